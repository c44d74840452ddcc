"""The Python client against a live server: standard methods and errors."""

import uuid

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from partnership.v1 import company_pb2, company_pb2_grpc, enterprise_pb2
from partnership.v1 import program_pb2, program_pb2_grpc, sme_pb2, sme_pb2_grpc


def new_company(stub, **fields):
    fields.setdefault("display_name", "Test Company")
    fields.setdefault("size", enterprise_pb2.ENTERPRISE_SIZE_LARGE)
    return stub.CreateCompany(
        company_pb2.CreateCompanyRequest(
            company=company_pb2.Company(**fields), company_id=f"py-{uuid.uuid4().hex[:12]}"
        )
    )


def test_create_get_list_update_delete(channel):
    companies = company_pb2_grpc.CompanyServiceStub(channel)
    created = new_company(companies, display_name=" Samsung Electronics ", business_number="1248100998")
    assert created.name.startswith("companies/py-")
    assert created.display_name == "Samsung Electronics"
    assert created.business_number == "124-81-00998"
    assert created.etag

    got = companies.GetCompany(company_pb2.GetCompanyRequest(name=created.name))
    assert got == created

    names = []
    token = ""
    while True:
        page = companies.ListCompanies(company_pb2.ListCompaniesRequest(page_size=2, page_token=token))
        names += [c.name for c in page.companies]
        token = page.next_page_token
        if not token:
            break
    assert created.name in names

    updated = companies.UpdateCompany(
        company_pb2.UpdateCompanyRequest(
            company=company_pb2.Company(name=created.name, region=enterprise_pb2.REGION_GYEONGGI, etag=created.etag),
            update_mask=field_mask_pb2.FieldMask(paths=["region"]),
        )
    )
    assert updated.region == enterprise_pb2.REGION_GYEONGGI
    assert updated.etag != created.etag

    with pytest.raises(grpc.RpcError) as stale:
        companies.UpdateCompany(
            company_pb2.UpdateCompanyRequest(
                company=company_pb2.Company(name=created.name, display_name="x", etag=created.etag)
            )
        )
    assert stale.value.code() == grpc.StatusCode.ABORTED

    deleted = companies.DeleteCompany(company_pb2.DeleteCompanyRequest(name=created.name, etag=updated.etag))
    assert deleted.HasField("delete_time")
    restored = companies.UndeleteCompany(company_pb2.UndeleteCompanyRequest(name=created.name))
    assert not restored.HasField("delete_time")
    companies.DeleteCompany(company_pb2.DeleteCompanyRequest(name=created.name))


def test_programs_and_participations(channel):
    companies = company_pb2_grpc.CompanyServiceStub(channel)
    smes = sme_pb2_grpc.SmeServiceStub(channel)
    programs = program_pb2_grpc.ProgramServiceStub(channel)
    host = new_company(companies)
    sme = smes.CreateSme(
        sme_pb2.CreateSmeRequest(sme=sme_pb2.Sme(display_name="Daewon", size=enterprise_pb2.ENTERPRISE_SIZE_SMALL))
    )
    program = programs.CreateProgram(
        program_pb2.CreateProgramRequest(
            program=program_pb2.Program(
                display_name="Profit sharing",
                host_company=host.name,
                kind=program_pb2.PROGRAM_KIND_PROFIT_SHARING,
                budget_krw=1_000_000_000,
            ),
            request_id=str(uuid.uuid4()),
        )
    )
    assert program.state == program_pb2.PROGRAM_STATE_PLANNED
    part = programs.CreateParticipation(
        program_pb2.CreateParticipationRequest(
            parent=program.name,
            participation=program_pb2.Participation(
                sme=sme.name,
                support_amount_krw=5_000_000,
                outcomes=[program_pb2.Outcome(metric="bonus rate", baseline=0, achieved=100, unit="percent")],
            ),
        )
    )
    assert part.name.startswith(program.name + "/participations/")
    listed = programs.ListParticipations(program_pb2.ListParticipationsRequest(parent=program.name))
    assert [p.name for p in listed.participations] == [part.name]


def test_bad_input_has_bad_request_details(channel):
    companies = company_pb2_grpc.CompanyServiceStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        new_company(companies, business_number="124-81-00997", size=enterprise_pb2.ENTERPRISE_SIZE_SMALL)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = rpc_status.from_call(err.value)
    fields = []
    info = None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            fields += [v.field for v in bad.field_violations]
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
    assert set(fields) == {"company.business_number", "company.size"}
    assert info is not None and info.domain == "partnership.gov.kr"


def test_not_found_and_malformed_names(channel):
    companies = company_pb2_grpc.CompanyServiceStub(channel)
    with pytest.raises(grpc.RpcError) as err:
        companies.GetCompany(company_pb2.GetCompanyRequest(name="companies/does-not-exist"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as err:
        companies.GetCompany(company_pb2.GetCompanyRequest(name="not a name"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_tokens_scopes_and_open_health(raw_channel, tokens):
    from auth import with_token

    # Health needs no token (an empty request; b"\x08\x01" is SERVING).
    check = raw_channel.unary_unary(
        "/grpc.health.v1.Health/Check",
        request_serializer=lambda m: m,
        response_deserializer=lambda m: m,
    )
    assert check(b"") == b"\x08\x01"

    # No token: UNAUTHENTICATED, whether or not the record exists.
    anonymous = company_pb2_grpc.CompanyServiceStub(raw_channel)
    with pytest.raises(grpc.RpcError) as err:
        anonymous.GetCompany(company_pb2.GetCompanyRequest(name="companies/nope"))
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # A read token reads, and may not write: PERMISSION_DENIED names the scope.
    reader = company_pb2_grpc.CompanyServiceStub(with_token(raw_channel, tokens["reader"]))
    reader.ListCompanies(company_pb2.ListCompaniesRequest())
    with pytest.raises(grpc.RpcError) as err:
        new_company(reader)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    info = _detail(err.value, error_details_pb2.ErrorInfo)
    assert info.reason == "SCOPE_MISSING"
    assert info.metadata["scope"] == "write"
    assert info.metadata["caller"] == "py-reader"


def _detail(error, kind):
    status = rpc_status.from_call(error)
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            out = kind()
            detail.Unpack(out)
            return out
    raise AssertionError(f"no {kind.DESCRIPTOR.name} in {status}")

"""Calls the partnership service: creates a company and a program, lists
programs, reads the details of a rejected request, and deletes what it
created (a soft delete, so nothing it made stays live).

    python generate.py && PYTHONPATH=gen python example.py [ADDRESS]

A server with auth on wants a token (`partnership token new NAME --scopes
read,write`): set PARTNERSHIP_TOKEN and every call carries it.
"""

import os
import sys
import uuid

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from auth import with_token
from partnership.v1 import company_pb2, company_pb2_grpc, enterprise_pb2
from partnership.v1 import program_pb2, program_pb2_grpc


def main(address: str) -> None:
    with grpc.insecure_channel(address) as plain:
        token = os.environ.get("PARTNERSHIP_TOKEN")
        channel = with_token(plain, token) if token else plain
        companies = company_pb2_grpc.CompanyServiceStub(channel)
        programs = program_pb2_grpc.ProgramServiceStub(channel)

        company = companies.CreateCompany(
            company_pb2.CreateCompanyRequest(
                company=company_pb2.Company(
                    display_name="Example Heavy Industries",
                    size=enterprise_pb2.ENTERPRISE_SIZE_LARGE,
                    region=enterprise_pb2.REGION_ULSAN,
                ),
                # Retrying with the same request_id never creates twice.
                request_id=str(uuid.uuid4()),
            )
        )
        print("created", company.name, "etag", company.etag)

        program = programs.CreateProgram(
            program_pb2.CreateProgramRequest(
                program=program_pb2.Program(
                    display_name="Supplier ESG training",
                    host_company=company.name,
                    kind=program_pb2.PROGRAM_KIND_ESG_SUPPLY_CHAIN,
                    budget_krw=250_000_000,
                )
            )
        )
        print("created", program.name)

        page = programs.ListPrograms(program_pb2.ListProgramsRequest(page_size=10))
        print(f"{page.total_size} programs; first page:")
        for p in page.programs:
            print(" ", p.name, p.display_name)

        try:
            companies.CreateCompany(
                company_pb2.CreateCompanyRequest(
                    company=company_pb2.Company(
                        display_name="Bad number",
                        business_number="124-81-00997",
                        size=enterprise_pb2.ENTERPRISE_SIZE_LARGE,
                    )
                )
            )
        except grpc.RpcError as err:
            status = rpc_status.from_call(err)
            print("rejected:", err.code().name, err.details())
            for detail in status.details:
                if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                    bad = error_details_pb2.BadRequest()
                    detail.Unpack(bad)
                    for v in bad.field_violations:
                        print(f"  {v.field}: {v.description}")

        # Clean up: the company and, with force, its program.
        companies.DeleteCompany(company_pb2.DeleteCompanyRequest(name=company.name, force=True))
        print("deleted", company.name, "and its program")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051")

package kr.gov.partnership.client;

import com.google.rpc.BadRequest;
import com.google.rpc.ErrorInfo;
import com.google.type.Date;
import io.grpc.Channel;
import io.grpc.ManagedChannel;
import io.grpc.StatusRuntimeException;
import java.io.File;
import java.io.PrintStream;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import kr.gov.partnership.v1.Company;
import kr.gov.partnership.v1.CompanyServiceGrpc;
import kr.gov.partnership.v1.CompanyServiceGrpc.CompanyServiceBlockingStub;
import kr.gov.partnership.v1.CreateCompanyRequest;
import kr.gov.partnership.v1.CreateParticipationRequest;
import kr.gov.partnership.v1.CreateProgramRequest;
import kr.gov.partnership.v1.CreateSmeRequest;
import kr.gov.partnership.v1.DeleteCompanyRequest;
import kr.gov.partnership.v1.DeleteProgramRequest;
import kr.gov.partnership.v1.DeleteSmeRequest;
import kr.gov.partnership.v1.EnterpriseSize;
import kr.gov.partnership.v1.Funder;
import kr.gov.partnership.v1.GetCompanyRequest;
import kr.gov.partnership.v1.ListParticipationsRequest;
import kr.gov.partnership.v1.ListParticipationsResponse;
import kr.gov.partnership.v1.ListProgramsRequest;
import kr.gov.partnership.v1.ListProgramsResponse;
import kr.gov.partnership.v1.Outcome;
import kr.gov.partnership.v1.Participation;
import kr.gov.partnership.v1.Program;
import kr.gov.partnership.v1.ProgramKind;
import kr.gov.partnership.v1.ProgramServiceGrpc;
import kr.gov.partnership.v1.ProgramServiceGrpc.ProgramServiceBlockingStub;
import kr.gov.partnership.v1.Region;
import kr.gov.partnership.v1.Sme;
import kr.gov.partnership.v1.SmeServiceGrpc;
import kr.gov.partnership.v1.SmeServiceGrpc.SmeServiceBlockingStub;

/**
 * Calls the partnership service: creates a company, an SME, a program and a participation, lists
 * them, decodes the ErrorInfo and BadRequest of a rejected request and the NOT_FOUND of a missing
 * name, then deletes what it created (a soft delete, so nothing it made stays live).
 *
 * <pre>
 * java -cp "$(cat ../../target/java-client/classpath)" kr.gov.partnership.client.Example [ADDRESS [CA_PEM]]
 * </pre>
 *
 * ADDRESS defaults to 127.0.0.1:50051. With CA_PEM the channel uses TLS and trusts that CA; then
 * PARTNERSHIP_TOKEN, if set, is sent as a bearer token (for when the service requires one).
 */
public final class Example {
  private Example() {}

  public static void main(String[] args) throws Exception {
    String target = args.length > 0 ? args[0] : "127.0.0.1:50051";
    ManagedChannel channel =
        args.length > 1 ? Channels.tls(target, new File(args[1])) : Channels.plaintext(target);
    try {
      String token = System.getenv("PARTNERSHIP_TOKEN");
      run(channel, args.length > 1 ? token : null, System.out);
    } finally {
      channel.shutdown().awaitTermination(5, TimeUnit.SECONDS);
    }
  }

  /** The example's calls on {@code channel}; {@code token} (may be null) is sent as a bearer. */
  public static void run(Channel channel, String token, PrintStream out) {
    // A deadline is absolute: these stubs give the whole example 30 seconds.
    CompanyServiceBlockingStub companies =
        CompanyServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    SmeServiceBlockingStub smes =
        SmeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    ProgramServiceBlockingStub programs =
        ProgramServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    if (token != null && !token.isEmpty()) {
      BearerToken bearer = new BearerToken(token);
      companies = companies.withCallCredentials(bearer);
      smes = smes.withCallCredentials(bearer);
      programs = programs.withCallCredentials(bearer);
    }

    Company company =
        companies.createCompany(
            CreateCompanyRequest.newBuilder()
                .setCompany(
                    Company.newBuilder()
                        .setDisplayName("Example Heavy Industries")
                        .setSize(EnterpriseSize.ENTERPRISE_SIZE_LARGE)
                        .setRegion(Region.REGION_ULSAN))
                // Retrying with the same request_id never creates twice.
                .setRequestId(UUID.randomUUID().toString())
                .build());
    out.println("created " + company.getName() + " etag " + company.getEtag());

    Sme sme =
        smes.createSme(
            CreateSmeRequest.newBuilder()
                .setSme(
                    Sme.newBuilder()
                        .setDisplayName("Example Parts")
                        .setSize(EnterpriseSize.ENTERPRISE_SIZE_SMALL)
                        .setRegion(Region.REGION_CHUNGNAM))
                .setRequestId(UUID.randomUUID().toString())
                .build());
    out.println("created " + sme.getName());

    Program program =
        programs.createProgram(
            CreateProgramRequest.newBuilder()
                .setProgram(
                    Program.newBuilder()
                        .setDisplayName("Smart factory support")
                        .setHostCompany(company.getName())
                        .setKind(ProgramKind.PROGRAM_KIND_SMART_FACTORY)
                        .setStartDate(Date.newBuilder().setYear(2026).setMonth(1).setDay(1))
                        .setBudgetKrw(5_000_000_000L)
                        .addFunders(
                            Funder.newBuilder()
                                .setDisplayName("Ministry of SMEs and Startups")
                                .setContributionKrw(2_000_000_000L)))
                .setRequestId(UUID.randomUUID().toString())
                .build());
    out.println("created " + program.getName() + " (" + program.getState() + ")");

    Participation participation =
        programs.createParticipation(
            CreateParticipationRequest.newBuilder()
                .setParent(program.getName())
                .setParticipation(
                    Participation.newBuilder()
                        .setSme(sme.getName())
                        .setSupportAmountKrw(300_000_000L)
                        .setJoinedDate(Date.newBuilder().setYear(2026).setMonth(3).setDay(10))
                        .addOutcomes(
                            Outcome.newBuilder()
                                .setMetric("delivery lead time")
                                .setBaseline(10)
                                .setAchieved(7)
                                .setUnit("days")))
                .setRequestId(UUID.randomUUID().toString())
                .build());
    out.println("created " + participation.getName());

    ListProgramsResponse page =
        programs.listPrograms(ListProgramsRequest.newBuilder().setPageSize(10).build());
    out.println(page.getTotalSize() + " programs; first page:");
    for (Program p : page.getProgramsList()) {
      out.println("  " + p.getName() + " " + p.getDisplayName());
    }
    ListParticipationsResponse parts =
        programs.listParticipations(
            ListParticipationsRequest.newBuilder().setParent(program.getName()).build());
    for (Participation p : parts.getParticipationsList()) {
      out.println(
          "  " + p.getName() + " sme " + p.getSme() + " support " + p.getSupportAmountKrw() + " KRW");
    }

    // A bad business registration number (wrong check digit): INVALID_ARGUMENT with an
    // ErrorInfo and a BadRequest naming the field.
    try {
      companies.createCompany(
          CreateCompanyRequest.newBuilder()
              .setCompany(
                  Company.newBuilder()
                      .setDisplayName("Bad number")
                      .setBusinessNumber("124-81-00997")
                      .setSize(EnterpriseSize.ENTERPRISE_SIZE_LARGE))
              .build());
      throw new IllegalStateException("a bad business number was accepted");
    } catch (StatusRuntimeException e) {
      ErrorDetails err = ErrorDetails.of(e);
      ErrorInfo info = err.errorInfo();
      out.println("rejected: " + err.code() + " " + err.message());
      out.println("  reason " + info.getReason() + " domain " + info.getDomain());
      for (BadRequest.FieldViolation v : err.badRequest().getFieldViolationsList()) {
        out.println("  " + v.getField() + ": " + v.getDescription());
      }
    }

    try {
      companies.getCompany(GetCompanyRequest.newBuilder().setName("companies/no-such").build());
      throw new IllegalStateException("a missing company was found");
    } catch (StatusRuntimeException e) {
      ErrorDetails err = ErrorDetails.of(e);
      out.println("missing: " + err.code() + " reason " + err.errorInfo().getReason());
    }

    // Clean up: the program with its participation (force), the company, the SME.
    programs.deleteProgram(
        DeleteProgramRequest.newBuilder().setName(program.getName()).setForce(true).build());
    companies.deleteCompany(DeleteCompanyRequest.newBuilder().setName(company.getName()).build());
    smes.deleteSme(DeleteSmeRequest.newBuilder().setName(sme.getName()).build());
    out.println("deleted " + program.getName() + ", " + company.getName() + ", " + sme.getName());
  }
}

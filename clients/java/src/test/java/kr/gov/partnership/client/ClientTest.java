package kr.gov.partnership.client;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertNotEquals;
import static org.junit.Assert.assertNotNull;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import com.google.rpc.ErrorInfo;
import com.google.type.Date;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import kr.gov.partnership.v1.Company;
import kr.gov.partnership.v1.CompanyServiceGrpc;
import kr.gov.partnership.v1.CompanyServiceGrpc.CompanyServiceBlockingStub;
import kr.gov.partnership.v1.CreateCompanyRequest;
import kr.gov.partnership.v1.CreateParticipationRequest;
import kr.gov.partnership.v1.CreateProgramRequest;
import kr.gov.partnership.v1.CreateSmeRequest;
import kr.gov.partnership.v1.EnterpriseSize;
import kr.gov.partnership.v1.GetCompanyRequest;
import kr.gov.partnership.v1.GetParticipationRequest;
import kr.gov.partnership.v1.GetProgramRequest;
import kr.gov.partnership.v1.GetSmeRequest;
import kr.gov.partnership.v1.ListCompaniesRequest;
import kr.gov.partnership.v1.ListCompaniesResponse;
import kr.gov.partnership.v1.ListParticipationsRequest;
import kr.gov.partnership.v1.ListProgramsRequest;
import kr.gov.partnership.v1.ListSmesRequest;
import kr.gov.partnership.v1.Outcome;
import kr.gov.partnership.v1.Participation;
import kr.gov.partnership.v1.Program;
import kr.gov.partnership.v1.ProgramKind;
import kr.gov.partnership.v1.ProgramServiceGrpc;
import kr.gov.partnership.v1.ProgramServiceGrpc.ProgramServiceBlockingStub;
import kr.gov.partnership.v1.ProgramState;
import kr.gov.partnership.v1.Region;
import kr.gov.partnership.v1.Sme;
import kr.gov.partnership.v1.SmeServiceGrpc;
import kr.gov.partnership.v1.SmeServiceGrpc.SmeServiceBlockingStub;
import org.junit.AfterClass;
import org.junit.BeforeClass;
import org.junit.Test;

/** The Java client against a live server: creates, reads back, lists, errors, TLS. */
public class ClientTest {
  private static TestServer server;
  private static ManagedChannel channel;

  @BeforeClass
  public static void startServer() throws Exception {
    server = TestServer.start();
    channel = Channels.plaintext(server.address);
  }

  @AfterClass
  public static void stopServer() throws Exception {
    if (channel != null) {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
    if (server != null) {
      server.close();
    }
  }

  private static CompanyServiceBlockingStub companies() {
    return CompanyServiceGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);
  }

  private static SmeServiceBlockingStub smes() {
    return SmeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);
  }

  private static ProgramServiceBlockingStub programs() {
    return ProgramServiceGrpc.newBlockingStub(channel).withDeadlineAfter(20, TimeUnit.SECONDS);
  }

  private static String newId(String prefix) {
    return prefix + "-" + UUID.randomUUID().toString().replace("-", "").substring(0, 12);
  }

  /** A valid business registration number: nine digits and their check digit. */
  static String businessNumber(String nineDigits) {
    int[] weights = {1, 3, 7, 1, 3, 7, 1, 3, 5};
    int sum = 0;
    for (int i = 0; i < 9; i++) {
      sum += (nineDigits.charAt(i) - '0') * weights[i];
    }
    sum += (nineDigits.charAt(8) - '0') * 5 / 10;
    return nineDigits + (10 - sum % 10) % 10;
  }

  private static StatusRuntimeException expectError(Runnable call) {
    try {
      call.run();
    } catch (StatusRuntimeException e) {
      return e;
    }
    fail("the call succeeded");
    return null;
  }

  @Test
  public void checkDigitMatchesTheServersExamples() {
    assertEquals("1248100998", businessNumber("124810099"));
    assertEquals("3148105126", businessNumber("314810512"));
  }

  @Test
  public void companyIsCreatedReadBackAndListed() {
    String requestId = UUID.randomUUID().toString();
    CreateCompanyRequest request =
        CreateCompanyRequest.newBuilder()
            .setCompanyId(newId("java"))
            .setRequestId(requestId)
            .setCompany(
                Company.newBuilder()
                    .setDisplayName("  Samsung Electronics ")
                    .setBusinessNumber("1248100998")
                    .setSize(EnterpriseSize.ENTERPRISE_SIZE_LARGE)
                    .setRegion(Region.REGION_GYEONGGI)
                    .setKsicCode("26111"))
            .build();
    Company created = companies().createCompany(request);
    assertEquals("companies/" + request.getCompanyId(), created.getName());
    assertEquals("Samsung Electronics", created.getDisplayName());
    assertEquals("124-81-00998", created.getBusinessNumber());
    assertEquals("C26111", created.getKsicCode());
    assertEquals(EnterpriseSize.ENTERPRISE_SIZE_LARGE, created.getSize());
    assertEquals(Region.REGION_GYEONGGI, created.getRegion());
    assertFalse(created.getEtag().isEmpty());
    assertTrue(created.hasCreateTime());
    assertFalse(created.hasDeleteTime());

    // The same request_id again returns the first answer and creates nothing.
    assertEquals(created, companies().createCompany(request));

    assertEquals(
        created, companies().getCompany(GetCompanyRequest.newBuilder().setName(created.getName()).build()));

    List<String> names = new ArrayList<String>();
    String token = "";
    int total = -1;
    do {
      ListCompaniesResponse page =
          companies()
              .listCompanies(
                  ListCompaniesRequest.newBuilder().setPageSize(1).setPageToken(token).build());
      for (Company c : page.getCompaniesList()) {
        names.add(c.getName());
      }
      total = page.getTotalSize();
      token = page.getNextPageToken();
    } while (!token.isEmpty());
    assertTrue(names.contains(created.getName()));
    assertEquals(total, names.size());
    assertEquals(names.size(), new HashSet<String>(names).size());
  }

  @Test
  public void programAndParticipationAreCreatedReadBackAndListed() {
    Company host =
        companies()
            .createCompany(
                CreateCompanyRequest.newBuilder()
                    .setCompany(
                        Company.newBuilder()
                            .setDisplayName("Hanwha Ocean")
                            .setSize(EnterpriseSize.ENTERPRISE_SIZE_LARGE))
                    .build());
    Sme sme =
        smes()
            .createSme(
                CreateSmeRequest.newBuilder()
                    .setSmeId(newId("daewon"))
                    .setSme(
                        Sme.newBuilder()
                            .setDisplayName("Daewon Industry")
                            .setBusinessNumber(businessNumber("609810001"))
                            .setSize(EnterpriseSize.ENTERPRISE_SIZE_SMALL)
                            .setRegion(Region.REGION_GYEONGNAM))
                    .build());
    assertEquals(Region.REGION_GYEONGNAM, sme.getRegion());
    assertEquals(sme, smes().getSme(GetSmeRequest.newBuilder().setName(sme.getName()).build()));
    assertTrue(
        smes().listSmes(ListSmesRequest.newBuilder().build()).getSmesList().contains(sme));

    Program program =
        programs()
            .createProgram(
                CreateProgramRequest.newBuilder()
                    .setRequestId(UUID.randomUUID().toString())
                    .setProgram(
                        Program.newBuilder()
                            .setDisplayName("Profit sharing")
                            .setHostCompany(host.getName())
                            .setKind(ProgramKind.PROGRAM_KIND_PROFIT_SHARING)
                            .setStartDate(Date.newBuilder().setYear(2026).setMonth(1).setDay(1))
                            .setBudgetKrw(1_000_000_000L))
                    .build());
    assertTrue(program.getName().startsWith("programs/"));
    assertEquals(ProgramState.PROGRAM_STATE_PLANNED, program.getState());
    assertEquals(host.getName(), program.getHostCompany());
    assertEquals(1_000_000_000L, program.getBudgetKrw());
    assertEquals(2026, program.getStartDate().getYear());
    assertEquals(
        program, programs().getProgram(GetProgramRequest.newBuilder().setName(program.getName()).build()));
    assertTrue(
        programs()
            .listPrograms(ListProgramsRequest.newBuilder().setPageSize(1000).build())
            .getProgramsList()
            .contains(program));

    Participation part =
        programs()
            .createParticipation(
                CreateParticipationRequest.newBuilder()
                    .setParent(program.getName())
                    .setParticipation(
                        Participation.newBuilder()
                            .setSme(sme.getName())
                            .setSupportAmountKrw(5_000_000L)
                            .setJoinedDate(Date.newBuilder().setYear(2026).setMonth(3).setDay(10))
                            .addOutcomes(
                                Outcome.newBuilder()
                                    .setMetric("bonus rate")
                                    .setBaseline(0)
                                    .setAchieved(100)
                                    .setUnit("percent")))
                    .build());
    assertTrue(part.getName().startsWith(program.getName() + "/participations/"));
    assertEquals(sme.getName(), part.getSme());
    assertEquals(5_000_000L, part.getSupportAmountKrw());
    assertEquals(1, part.getOutcomesCount());
    assertEquals("bonus rate", part.getOutcomes(0).getMetric());
    assertTrue(part.getOutcomes(0).hasBaseline());
    assertEquals(100.0, part.getOutcomes(0).getAchieved(), 0.0);
    assertEquals(
        part,
        programs().getParticipation(GetParticipationRequest.newBuilder().setName(part.getName()).build()));
    assertEquals(
        Arrays.asList(part),
        programs()
            .listParticipations(
                ListParticipationsRequest.newBuilder().setParent(program.getName()).build())
            .getParticipationsList());
    assertTrue(
        programs()
            .listParticipations(ListParticipationsRequest.newBuilder().setParent("programs/-").build())
            .getParticipationsList()
            .contains(part));

    // A second live participation of the same SME in the program is refused.
    StatusRuntimeException dup =
        expectError(
            () ->
                programs()
                    .createParticipation(
                        CreateParticipationRequest.newBuilder()
                            .setParent(program.getName())
                            .setParticipation(Participation.newBuilder().setSme(sme.getName()))
                            .build()));
    assertEquals(Status.Code.ALREADY_EXISTS, dup.getStatus().getCode());
    assertEquals("SME_ALREADY_PARTICIPATES", ErrorDetails.of(dup).errorInfo().getReason());
  }

  @Test
  public void badInputHasErrorInfoAndBadRequest() {
    StatusRuntimeException e =
        expectError(
            () ->
                companies()
                    .createCompany(
                        CreateCompanyRequest.newBuilder()
                            .setCompany(
                                Company.newBuilder()
                                    .setDisplayName("Bad number")
                                    .setBusinessNumber("124-81-00997")
                                    .setSize(EnterpriseSize.ENTERPRISE_SIZE_SMALL))
                            .build()));
    ErrorDetails err = ErrorDetails.of(e);
    assertEquals(Status.Code.INVALID_ARGUMENT, err.code());
    ErrorInfo info = err.errorInfo();
    assertNotNull("ErrorInfo", info);
    assertEquals("INVALID_ARGUMENT", info.getReason());
    assertEquals("partnership.gov.kr", info.getDomain());
    assertEquals(
        new HashSet<String>(Arrays.asList("company.business_number", "company.size")),
        new HashSet<String>(Arrays.asList(info.getMetadataOrThrow("fields").split(","))));
    assertNotNull("BadRequest", err.badRequest());
    assertEquals(
        new HashSet<String>(Arrays.asList("company.business_number", "company.size")),
        new HashSet<String>(err.badFields()));
    for (com.google.rpc.BadRequest.FieldViolation v : err.badRequest().getFieldViolationsList()) {
      assertFalse(v.getField() + " has a description", v.getDescription().isEmpty());
    }
  }

  @Test
  public void missingNameIsNotFoundAndMalformedNameIsInvalid() {
    StatusRuntimeException missing =
        expectError(
            () ->
                companies()
                    .getCompany(GetCompanyRequest.newBuilder().setName("companies/does-not-exist").build()));
    ErrorDetails err = ErrorDetails.of(missing);
    assertEquals(Status.Code.NOT_FOUND, err.code());
    assertEquals("RESOURCE_NOT_FOUND", err.errorInfo().getReason());

    StatusRuntimeException malformed =
        expectError(
            () -> companies().getCompany(GetCompanyRequest.newBuilder().setName("not a name").build()));
    ErrorDetails bad = ErrorDetails.of(malformed);
    assertEquals(Status.Code.INVALID_ARGUMENT, bad.code());
    assertEquals(Arrays.asList("name"), bad.badFields());
  }

  @Test
  public void exampleRunsToTheEnd() {
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    PrintStream out = new PrintStream(buf, true);
    Example.run(channel, null, out);
    String printed = new String(buf.toByteArray(), StandardCharsets.UTF_8);
    assertTrue(printed, printed.contains("rejected: INVALID_ARGUMENT"));
    assertTrue(printed, printed.contains("company.business_number: "));
    assertTrue(printed, printed.contains("missing: NOT_FOUND reason RESOURCE_NOT_FOUND"));
    assertTrue(printed, printed.contains("deleted programs/"));
  }

  @Test
  public void tlsChannelWithBearerToken() throws Exception {
    File dir = java.nio.file.Files.createTempDirectory("partnership-java-tls-").toFile();
    Certs.make(dir);
    // Mint a token the way an operator does: the token on stdout, the
    // callers' file entry on stderr.
    File callers = new File(dir, "callers.toml");
    Process mint =
        new ProcessBuilder(TestServer.binary(), "token", "new", "java-suite", "--scopes", "read")
            .redirectError(callers)
            .start();
    String token = new String(mint.getInputStream().readAllBytes(), "UTF-8").trim();
    assertEquals(0, mint.waitFor());
    try (TestServer tls =
        TestServer.start(
            "--tls-cert", new File(dir, "server.pem").getPath(),
            "--tls-key", new File(dir, "server.key").getPath(),
            "--auth-config", callers.getPath())) {
      String port = tls.address.substring(tls.address.lastIndexOf(':') + 1);
      ManagedChannel secure = Channels.tls("localhost:" + port, new File(dir, "ca.pem"));
      try {
        CompanyServiceBlockingStub stub =
            CompanyServiceGrpc.newBlockingStub(secure)
                .withCallCredentials(new BearerToken(token))
                .withDeadlineAfter(20, TimeUnit.SECONDS);
        assertEquals(0, stub.listCompanies(ListCompaniesRequest.newBuilder().build()).getTotalSize());
        StatusRuntimeException wrong =
            expectError(
                () ->
                    CompanyServiceGrpc.newBlockingStub(secure)
                        .withCallCredentials(new BearerToken("pt_not-a-token"))
                        .listCompanies(ListCompaniesRequest.newBuilder().build()));
        assertEquals(Status.Code.UNAUTHENTICATED, wrong.getStatus().getCode());
      } finally {
        secure.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
      // Plaintext to a TLS port fails; the bearer token is never sent without TLS.
      StatusRuntimeException plain =
          expectError(
              () ->
                  CompanyServiceGrpc.newBlockingStub(channel)
                      .withCallCredentials(new BearerToken("example-token"))
                      .listCompanies(ListCompaniesRequest.newBuilder().build()));
      assertEquals(Status.Code.UNAUTHENTICATED, plain.getStatus().getCode());
    }
  }

  @Test
  public void mutualTlsChannel() throws Exception {
    File dir = java.nio.file.Files.createTempDirectory("partnership-java-mtls-").toFile();
    Certs.make(dir);
    File ca = new File(dir, "ca.pem");
    try (TestServer mtls =
        TestServer.start(
            "--tls-cert", new File(dir, "server.pem").getPath(),
            "--tls-key", new File(dir, "server.key").getPath(),
            "--tls-client-ca", ca.getPath())) {
      String target = "localhost:" + mtls.address.substring(mtls.address.lastIndexOf(':') + 1);
      ManagedChannel withCert =
          Channels.mutualTls(target, ca, new File(dir, "client.pem"), new File(dir, "client.key"));
      ManagedChannel withoutCert = Channels.tls(target, ca);
      try {
        assertEquals(
            0,
            CompanyServiceGrpc.newBlockingStub(withCert)
                .withDeadlineAfter(20, TimeUnit.SECONDS)
                .listCompanies(ListCompaniesRequest.newBuilder().build())
                .getTotalSize());
        StatusRuntimeException refused =
            expectError(
                () ->
                    CompanyServiceGrpc.newBlockingStub(withoutCert)
                        .withDeadlineAfter(20, TimeUnit.SECONDS)
                        .listCompanies(ListCompaniesRequest.newBuilder().build()));
        assertEquals(Status.Code.UNAVAILABLE, refused.getStatus().getCode());
      } finally {
        withCert.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        withoutCert.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
      }
    }
  }

  /**
   * A throwaway CA, a server certificate for localhost and 127.0.0.1 and a client certificate,
   * made with openssl (keys in PKCS#8 PEM).
   */
  static final class Certs {
    static void make(File dir) throws IOException, InterruptedException {
      try (FileOutputStream ext = new FileOutputStream(new File(dir, "server.ext"))) {
        ext.write(
            ("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
                .getBytes(StandardCharsets.US_ASCII));
      }
      try (FileOutputStream ext = new FileOutputStream(new File(dir, "client.ext"))) {
        ext.write("extendedKeyUsage=clientAuth\n".getBytes(StandardCharsets.US_ASCII));
      }
      String ec = "ec_paramgen_curve:prime256v1";
      run(dir, "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", ec, "-nodes",
          "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=partnership test CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign");
      run(dir, "openssl", "req", "-newkey", "ec", "-pkeyopt", ec, "-nodes",
          "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost");
      run(dir, "openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
          "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "server.ext");
      run(dir, "openssl", "req", "-newkey", "ec", "-pkeyopt", ec, "-nodes",
          "-keyout", "client.key", "-out", "client.csr", "-subj", "/CN=example-ministry-system");
      run(dir, "openssl", "x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
          "-CAcreateserial", "-out", "client.pem", "-days", "2", "-extfile", "client.ext");
    }

    private static void run(File dir, String... cmd) throws IOException, InterruptedException {
      Process p =
          new ProcessBuilder(cmd).directory(dir).redirectErrorStream(true).start();
      byte[] out = readAll(p.getInputStream());
      if (p.waitFor() != 0) {
        throw new IOException(String.join(" ", cmd) + " failed:\n" + new String(out, StandardCharsets.UTF_8));
      }
    }

    private static byte[] readAll(java.io.InputStream in) throws IOException {
      ByteArrayOutputStream buf = new ByteArrayOutputStream();
      byte[] chunk = new byte[4096];
      int n;
      while ((n = in.read(chunk)) > 0) {
        buf.write(chunk, 0, n);
      }
      return buf.toByteArray();
    }
  }
}

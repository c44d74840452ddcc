package consumer;

import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import kr.gov.partnership.client.Channels;
import kr.gov.partnership.client.ErrorDetails;
import kr.gov.partnership.v1.CreateSmeRequest;
import kr.gov.partnership.v1.DeleteSmeRequest;
import kr.gov.partnership.v1.EnterpriseSize;
import kr.gov.partnership.v1.GetSmeRequest;
import kr.gov.partnership.v1.ListSmesRequest;
import kr.gov.partnership.v1.ListSmesResponse;
import kr.gov.partnership.v1.Sme;
import kr.gov.partnership.v1.SmeServiceGrpc;
import kr.gov.partnership.v1.SmeServiceGrpc.SmeServiceBlockingStub;

/**
 * A ministry's program using the client through Maven alone: scripts/client-packages.sh builds
 * it with this directory's pom.xml (kr.gov.partnership:partnership-client from the file://
 * repository) and runs it against a server it started with auth on, the token in
 * PARTNERSHIP_TOKEN. Exits non-zero on the first check that fails.
 *
 * <pre>java -cp target/classes:$(cat classpath.txt) consumer.CheckInstalled ADDRESS</pre>
 */
public final class CheckInstalled {
  private CheckInstalled() {}

  private static void check(boolean ok, String what) {
    if (!ok) {
      throw new AssertionError(what);
    }
  }

  private static ErrorDetails failure(Runnable call, Status.Code expected) {
    try {
      call.run();
    } catch (StatusRuntimeException e) {
      ErrorDetails err = ErrorDetails.of(e);
      check(err.code() == expected, "expected " + expected + ", got " + err);
      return err;
    }
    throw new AssertionError("expected " + expected + ", the call succeeded");
  }

  public static void main(String[] args) {
    String target = args[0];
    String token = System.getenv("PARTNERSHIP_TOKEN");
    check(token != null && !token.isEmpty(), "PARTNERSHIP_TOKEN is not set");

    // The stubs and helpers come from the artifact's jar, not from a build tree.
    String jar = SmeServiceGrpc.class.getProtectionDomain().getCodeSource().getLocation().getPath();
    String helpers = Channels.class.getProtectionDomain().getCodeSource().getLocation().getPath();
    check(jar.endsWith("/partnership-client-0.1.0.jar") && jar.equals(helpers),
        "classes from " + jar + " and " + helpers);

    ManagedChannel channel = Channels.plaintext(target);
    try {
      SmeServiceBlockingStub anonymous =
          SmeServiceGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
      failure(() -> anonymous.listSmes(ListSmesRequest.getDefaultInstance()),
          Status.Code.UNAUTHENTICATED);

      // BearerToken sends the token over TLS only; this server is plaintext on loopback.
      Metadata headers = new Metadata();
      headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
      SmeServiceBlockingStub smes = SmeServiceGrpc.newBlockingStub(channel)
          .withInterceptors(MetadataUtils.newAttachHeadersInterceptor(headers))
          .withDeadlineAfter(30, TimeUnit.SECONDS);

      String id = "java-pkg-" + UUID.randomUUID().toString().substring(0, 8);
      String displayName = "Java package check " + id;
      Sme created = smes.createSme(CreateSmeRequest.newBuilder()
          .setSme(Sme.newBuilder().setDisplayName(displayName)
              .setSize(EnterpriseSize.ENTERPRISE_SIZE_SMALL).setEmployeeCount(12))
          .setSmeId(id)
          .setRequestId(UUID.randomUUID().toString())
          .build());
      check(created.getName().equals("smes/" + id) && !created.getEtag().isEmpty(),
          "created " + created.getName());

      Sme got = smes.getSme(GetSmeRequest.newBuilder().setName(created.getName()).build());
      check(got.getDisplayName().equals(displayName) && got.getEmployeeCount() == 12,
          "got " + got);

      ListSmesResponse page = smes.listSmes(ListSmesRequest.newBuilder()
          .setFilter("display_name = \"" + displayName + "\"").build());
      check(page.getSmesCount() == 1 && page.getSmes(0).getName().equals(created.getName()),
          "listed " + page.getSmesList());

      ErrorDetails bad = failure(
          () -> smes.getSme(GetSmeRequest.newBuilder().setName("not a name").build()),
          Status.Code.INVALID_ARGUMENT);
      check(bad.badFields().contains("name"), "bad fields " + bad.badFields());
      ErrorDetails missing = failure(
          () -> smes.getSme(GetSmeRequest.newBuilder().setName("smes/no-such-" + id).build()),
          Status.Code.NOT_FOUND);
      check(missing.errorInfo() != null
          && missing.errorInfo().getReason().equals("RESOURCE_NOT_FOUND"), "not found: " + missing);

      Sme deleted = smes.deleteSme(DeleteSmeRequest.newBuilder().setName(created.getName()).build());
      check(deleted.hasDeleteTime(), "deleted without delete_time");
      System.out.println("java package: created, got, listed and deleted " + created.getName()
          + "; UNAUTHENTICATED, INVALID_ARGUMENT (name) and NOT_FOUND (RESOURCE_NOT_FOUND) decoded; classes from "
          + jar);
    } finally {
      channel.shutdownNow();
    }
  }
}

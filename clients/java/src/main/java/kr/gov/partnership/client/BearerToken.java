package kr.gov.partnership.client;

import io.grpc.CallCredentials;
import io.grpc.Metadata;
import io.grpc.SecurityLevel;
import io.grpc.Status;
import java.util.concurrent.Executor;

/**
 * Sends {@code authorization: Bearer TOKEN} with every call, for when the service requires a
 * bearer token (it does not yet: today the header is accepted and ignored). Attach it to a stub
 * with {@code stub.withCallCredentials(new BearerToken(token))}. The token is only ever sent over
 * TLS: on a plaintext channel the call fails with UNAUTHENTICATED before anything is sent.
 */
public final class BearerToken extends CallCredentials {
  static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final String token;

  public BearerToken(String token) {
    this.token = token;
  }

  @Override
  public void applyRequestMetadata(RequestInfo info, Executor executor, MetadataApplier applier) {
    if (info.getSecurityLevel() != SecurityLevel.PRIVACY_AND_INTEGRITY) {
      applier.fail(
          Status.UNAUTHENTICATED.withDescription(
              "refusing to send a bearer token over a channel without TLS"));
      return;
    }
    Metadata headers = new Metadata();
    headers.put(AUTHORIZATION, "Bearer " + token);
    applier.apply(headers);
  }

  // Abstract in grpc-java 1.41 (Debian 12), gone in later releases: no @Override on purpose.
  public void thisUsesUnstableApi() {}
}

package kr.gov.partnership.client;

import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.TlsChannelCredentials;
import java.io.File;
import java.io.IOException;

/** Opens a channel to the partnership service, in plaintext or over TLS. */
public final class Channels {
  private Channels() {}

  /** A plaintext channel, for a server started without {@code --tls-cert}. */
  public static ManagedChannel plaintext(String target) {
    return Grpc.newChannelBuilder(target, InsecureChannelCredentials.create()).build();
  }

  /**
   * A TLS channel that trusts the CA certificate(s) in {@code caPem} (PEM). The server's
   * certificate must name the host in {@code target} (a DNS name or an IP address).
   */
  public static ManagedChannel tls(String target, File caPem) throws IOException {
    ChannelCredentials credentials = TlsChannelCredentials.newBuilder().trustManager(caPem).build();
    return Grpc.newChannelBuilder(target, credentials).build();
  }

  /**
   * A mutual-TLS channel (a server started with {@code --tls-client-ca}): trusts {@code caPem}
   * and presents the client certificate {@code certPem} with its PKCS#8 key {@code keyPem}.
   */
  public static ManagedChannel mutualTls(String target, File caPem, File certPem, File keyPem)
      throws IOException {
    ChannelCredentials credentials =
        TlsChannelCredentials.newBuilder().trustManager(caPem).keyManager(certPem, keyPem).build();
    return Grpc.newChannelBuilder(target, credentials).build();
  }
}

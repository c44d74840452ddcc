package kr.gov.partnership.client;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * A real partnership server on a fresh SQLite file and a free port, from {@link #binary()} (paths
 * relative to clients/java). Its log is drained until it exits.
 */
final class TestServer implements AutoCloseable {
  final String address;
  final File dir;
  private final Process process;

  private TestServer(String address, File dir, Process process) {
    this.address = address;
    this.dir = dir;
    this.process = process;
  }

  /**
   * $PARTNERSHIP_BIN, else the most recently built of the repository's release and debug builds;
   * without one, an error saying how to build it.
   */
  static String binary() {
    String bin = System.getenv("PARTNERSHIP_BIN");
    if (bin != null && !bin.isEmpty()) {
      return bin;
    }
    File newest = null;
    for (String p : new String[] {"../../target/release/partnership", "../../target/debug/partnership"}) {
      File f = new File(p);
      if (f.isFile() && (newest == null || f.lastModified() > newest.lastModified())) {
        newest = f;
      }
    }
    if (newest == null) {
      throw new IllegalStateException(
          "no partnership binary found: build one at the repository root with `cargo build --release`"
              + " (or `cargo build`), or set PARTNERSHIP_BIN to its path");
    }
    return newest.getPath();
  }

  /** Starts a server; {@code extraArgs} are added to {@code serve} (e.g. the TLS flags). */
  static TestServer start(String... extraArgs) throws Exception {
    File dir = Files.createTempDirectory("partnership-java-").toFile();
    List<String> cmd = new ArrayList<String>();
    cmd.add(binary());
    cmd.add("serve");
    cmd.add("--listen");
    cmd.add("127.0.0.1:0");
    cmd.add("--metrics-listen");
    cmd.add("off");
    cmd.add("--database-url");
    cmd.add("sqlite://" + dir.getAbsolutePath() + "/java.db?mode=rwc");
    for (String a : extraArgs) {
      cmd.add(a);
    }
    ProcessBuilder pb = new ProcessBuilder(cmd);
    pb.environment().put("PARTNERSHIP_LOG_FORMAT", "text");
    pb.environment().put("RUST_LOG", "info");
    pb.redirectError(ProcessBuilder.Redirect.INHERIT);
    final Process process = pb.start();
    final CompletableFuture<String> addr = new CompletableFuture<String>();
    Thread drain =
        new Thread(
            () -> {
              try (BufferedReader r =
                  new BufferedReader(
                      new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = r.readLine()) != null) {
                  int at = line.indexOf("addr=");
                  if (!addr.isDone() && line.contains("listening") && at >= 0) {
                    addr.complete(line.substring(at + 5).split("\\s+")[0]);
                  }
                }
              } catch (IOException e) {
                // the process is gone
              }
              addr.completeExceptionally(new IllegalStateException("server exited before listening"));
            },
            "partnership-log");
    drain.setDaemon(true);
    drain.start();
    try {
      return new TestServer(addr.get(60, TimeUnit.SECONDS), dir, process);
    } catch (Exception e) {
      process.destroyForcibly();
      throw new IllegalStateException("server " + binary() + " did not report its address", e);
    }
  }

  @Override
  public void close() throws InterruptedException {
    // SIGTERM: the server drains and exits 0. (Process.destroy() would also close the pipe the
    // log is drained from, and the server's last lines would hit a broken pipe.)
    process.toHandle().destroy();
    if (!process.waitFor(30, TimeUnit.SECONDS)) {
      process.destroyForcibly();
    }
  }
}

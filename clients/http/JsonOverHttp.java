// What a Spring/REST service does to call partnership without gRPC: plain
// JSON over HTTP with the JDK's java.net.http.HttpClient, no other jar.
// Runs as a single file (JDK 11+):
//
//   java JsonOverHttp.java http://127.0.0.1:50051 [bearer-token]
//
// It creates a company, reads it back, lists with a filter, updates it with
// its etag, shows how errors arrive (AIP-193: the HTTP status, and the
// google.rpc.Status as JSON in {"error": {...}}), and streams an export as
// newline-delimited JSON. It exits non-zero if any answer is not the one
// expected, so CI runs it against a real server.

import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

public class JsonOverHttp {
    private final HttpClient http = HttpClient.newBuilder()
            .version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(5))
            .build();
    private final String base;
    private final String token;

    JsonOverHttp(String base, String token) {
        this.base = base.replaceAll("/+$", "");
        this.token = token;
    }

    /** A request to `path` with the headers every call sends. */
    private HttpRequest.Builder request(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(base + path))
                .header("content-type", "application/json")
                // The call's deadline, in seconds (or grpc-timeout: 5S).
                .header("x-server-timeout", "5")
                .timeout(Duration.ofSeconds(10));
        if (token != null && !token.isEmpty()) {
            b.header("authorization", "Bearer " + token);
        }
        return b;
    }

    private HttpResponse<String> send(HttpRequest.Builder b) throws Exception {
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString(StandardCharsets.UTF_8));
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    /** The first string value of `field` in a JSON text (enough for an example; a real service uses Jackson). */
    static String field(String json, String field) {
        Matcher m = Pattern.compile("\"" + Pattern.quote(field) + "\"\\s*:\\s*\"((?:[^\"\\\\]|\\\\.)*)\"").matcher(json);
        return m.find() ? m.group(1) : null;
    }

    private static void expect(boolean ok, String what, HttpResponse<?> r) {
        if (!ok) {
            throw new IllegalStateException(what + ": HTTP " + r.statusCode() + " " + r.body());
        }
        System.out.println("ok   " + what);
    }

    void run() throws Exception {
        String id = "java-" + UUID.randomUUID().toString().substring(0, 8);

        // Create: the resource is the body; the id and request_id are query parameters.
        HttpResponse<String> created = send(request("/v1/companies?companyId=" + id
                + "&requestId=" + UUID.randomUUID())
                .POST(HttpRequest.BodyPublishers.ofString(
                        "{\"displayName\":\"자바 정밀\",\"size\":\"ENTERPRISE_SIZE_LARGE\",\"region\":\"REGION_GYEONGNAM\"}")));
        expect(created.statusCode() == 200 && ("companies/" + id).equals(field(created.body(), "name")),
                "POST /v1/companies creates companies/" + id, created);

        // Get.
        HttpResponse<String> got = send(request("/v1/companies/" + id).GET());
        expect(got.statusCode() == 200 && "자바 정밀".equals(field(got.body(), "displayName")),
                "GET /v1/companies/" + id, got);

        // List with a filter (AIP-160), URL-encoded.
        HttpResponse<String> listed = send(request("/v1/companies?pageSize=10&filter="
                + enc("region = GYEONGNAM AND display_name = \"자바*\"")).GET());
        expect(listed.statusCode() == 200 && listed.body().contains("companies/" + id),
                "GET /v1/companies?filter=...", listed);

        // Update only the fields in updateMask, conditional on the etag read.
        String etag = field(got.body(), "etag");
        HttpResponse<String> updated = send(request("/v1/companies/" + id + "?updateMask=displayName")
                .method("PATCH", HttpRequest.BodyPublishers.ofString(
                        "{\"displayName\":\"자바 정밀 2\",\"etag\":\"" + etag + "\"}")));
        expect(updated.statusCode() == 200 && "자바 정밀 2".equals(field(updated.body(), "displayName")),
                "PATCH /v1/companies/" + id + "?updateMask=displayName", updated);

        // A stale etag: 409, status ABORTED, reason ETAG_MISMATCH.
        HttpResponse<String> stale = send(request("/v1/companies/" + id + "?updateMask=displayName")
                .method("PATCH", HttpRequest.BodyPublishers.ofString(
                        "{\"displayName\":\"x\",\"etag\":\"" + etag + "\"}")));
        expect(stale.statusCode() == 409 && "ABORTED".equals(field(stale.body(), "status"))
                && "ETAG_MISMATCH".equals(field(stale.body(), "reason")),
                "a stale etag is 409 ABORTED (ETAG_MISMATCH)", stale);

        // Not found: 404 with the google.rpc.Status and its ErrorInfo.
        HttpResponse<String> missing = send(request("/v1/companies/no-such-company").GET());
        expect(missing.statusCode() == 404 && "NOT_FOUND".equals(field(missing.body(), "status"))
                && "RESOURCE_NOT_FOUND".equals(field(missing.body(), "reason")),
                "a missing company is 404 NOT_FOUND (RESOURCE_NOT_FOUND)", missing);

        // Bad input: 400 with a BadRequest naming the field.
        HttpResponse<String> bad = send(request("/v1/companies?companyId=Not_Valid")
                .POST(HttpRequest.BodyPublishers.ofString("{\"displayName\":\"x\",\"size\":\"ENTERPRISE_SIZE_LARGE\"}")));
        expect(bad.statusCode() == 400 && "company_id".equals(field(bad.body(), "field")),
                "a bad id is 400 INVALID_ARGUMENT naming company_id", bad);

        // Export: newline-delimited JSON, read line by line as it arrives.
        HttpResponse<Stream<String>> export = http.send(request("/v1/companies:export").GET().build(),
                HttpResponse.BodyHandlers.ofLines());
        long[] records = {0};
        boolean[] failed = {false};
        try (Stream<String> lines = export.body()) {
            lines.forEach(line -> {
                if (line.startsWith("{\"error\"")) {
                    failed[0] = true;
                }
                records[0] += line.split("\"name\":\"companies/", -1).length - 1;
            });
        }
        if (export.statusCode() != 200 || failed[0] || records[0] < 1) {
            throw new IllegalStateException("export: HTTP " + export.statusCode() + ", " + records[0] + " records");
        }
        System.out.println("ok   GET /v1/companies:export streamed " + records[0] + " companies");
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 1) {
            System.err.println("usage: java JsonOverHttp.java http://HOST:PORT [bearer-token]");
            System.exit(2);
        }
        new JsonOverHttp(args[0], args.length > 1 ? args[1] : System.getenv("PARTNERSHIP_TOKEN")).run();
    }
}

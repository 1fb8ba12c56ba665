// Resumable tus upload with rotating tokens, JDK only (java.net.http). Run without compiling:
//
//   java TusUpload.java FILE ENDPOINT [--token JWT] [--parallel N] [--chunk-size BYTES] [--limit-rate BYTES_PER_S]
//
// Sends the file in chunks (PATCH), each with "Upload-Checksum: sha1 <base64>". Every response may
// carry X-New-Token: the next request of that upload uses it, so short-lived tokens never run out.
// After a network error or a 409/423/5xx it asks the server where it is (HEAD) and resumes from
// there. With --parallel N the file is cut into N partial uploads sent on a thread pool, then merged
// by a final concatenation (Upload-Concat). Prints the upload URL on success; exit 1 on failure.

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InterruptedIOException;
import java.io.RandomAccessFile;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicReference;

public class TusUpload {
    // HTTP/1.1: the default (HTTP/2) sends "Upgrade: h2c" on plain http://, which tus servers refuse with a body.
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    static final int MAX_RETRIES = 8;
    static long limitRate = 0;  // bytes per second for each upload (each part); 0 = as fast as possible

    /** The newest token of one upload (tokens rotated by the server are scoped to their upload). */
    static final class Token {
        private volatile String value;
        Token(String value) { this.value = value; }
        String get() { return value; }
        void update(HttpResponse<?> response) {
            response.headers().firstValue("X-New-Token").ifPresent(t -> value = t);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: java TusUpload.java FILE ENDPOINT [--token JWT] [--parallel N] [--chunk-size BYTES] [--limit-rate B/S]");
            System.exit(2);
        }
        Path file = Path.of(args[0]);
        String endpoint = args[1];
        String token = System.getenv("TUS_TOKEN");
        int parallel = 1;
        int chunkSize = 4 * 1024 * 1024;
        for (int i = 2; i < args.length; i++) {
            switch (args[i]) {
                case "--token" -> token = args[++i];
                case "--parallel" -> parallel = Integer.parseInt(args[++i]);
                case "--chunk-size" -> chunkSize = Integer.parseInt(args[++i]);
                case "--limit-rate" -> limitRate = Long.parseLong(args[++i]);
                default -> { System.err.println("unknown option " + args[i]); System.exit(2); }
            }
        }
        try {
            String url = parallel > 1 ? uploadParallel(file, endpoint, new Token(token), parallel, chunkSize)
                                      : uploadRange(file, endpoint, new Token(token), 0, Files.size(file), chunkSize, null);
            System.out.println(url);
        } catch (Exception e) {
            System.err.println("upload failed: " + e.getMessage());
            System.exit(1);
        }
    }

    static HttpRequest.Builder request(String url, Token token) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(120))
                .header("Tus-Resumable", "1.0.0");
        if (token.get() != null) b.header("Authorization", "Bearer " + token.get());
        return b;
    }

    static HttpResponse<String> send(HttpRequest request, Token token) throws IOException, InterruptedException {
        HttpResponse<String> response = HTTP.send(request, HttpResponse.BodyHandlers.ofString());
        token.update(response);
        return response;
    }

    static String create(String endpoint, Token token, long length, String concat, String filename) throws Exception {
        HttpRequest.Builder b = request(endpoint, token).POST(HttpRequest.BodyPublishers.noBody())
                .header("Upload-Length", Long.toString(length))
                .header("Upload-Metadata", "filename " + b64(filename.getBytes(StandardCharsets.UTF_8)));
        if (concat != null) b.header("Upload-Concat", concat);
        HttpResponse<String> r = send(b.build(), token);
        if (r.statusCode() != 201) throw new IOException("creation answered " + r.statusCode() + ": " + r.body().trim());
        return URI.create(endpoint).resolve(r.headers().firstValue("Location").orElseThrow()).toString();
    }

    static long offsetOf(String url, Token token) throws Exception {
        HttpResponse<String> r = send(request(url, token).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), token);
        if (r.statusCode() != 200) throw new IOException("HEAD answered " + r.statusCode());
        return Long.parseLong(r.headers().firstValue("Upload-Offset").orElseThrow());
    }

    /** Upload bytes [start, end) of the file as one upload (new, or `url` if given); returns its URL. */
    static String uploadRange(Path file, String endpoint, Token token, long start, long end, int chunkSize, String concat)
            throws Exception {
        long length = end - start;
        String url = create(endpoint, token, length, concat, file.getFileName().toString());
        long offset = 0;
        int attempt = 0;
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "r")) {
            while (offset < length) {
                int size = (int) Math.min(chunkSize, length - offset);
                byte[] chunk = new byte[size];
                raf.seek(start + offset);
                raf.readFully(chunk);
                HttpRequest patch = request(url, token)
                        .method("PATCH", body(chunk))
                        .header("Content-Type", "application/offset+octet-stream")
                        .header("Upload-Offset", Long.toString(offset))
                        .header("Upload-Checksum", "sha1 " + b64(MessageDigest.getInstance("SHA-1").digest(chunk)))
                        .build();
                int status;
                HttpResponse<String> r = null;
                try {
                    r = send(patch, token);
                    status = r.statusCode();
                } catch (IOException e) {
                    status = -1;
                }
                if (status == 204) {
                    offset = Long.parseLong(r.headers().firstValue("Upload-Offset").orElseThrow());
                    attempt = 0;
                    continue;
                }
                boolean retryable = status == -1 || status == 409 || status == 423 || status == 460 || status >= 500;
                if (!retryable || ++attempt > MAX_RETRIES) {
                    throw new IOException("PATCH answered " + status + (r == null ? "" : ": " + r.body().trim()));
                }
                Thread.sleep((long) (Math.min(10_000, 250L << attempt) * (0.5 + Math.random() / 2)));
                offset = offsetOf(url, token);  // resume where the server says it is
            }
        }
        return url;
    }

    static String uploadParallel(Path file, String endpoint, Token token, int parts, int chunkSize) throws Exception {
        long size = Files.size(file);
        ExecutorService pool = Executors.newFixedThreadPool(parts);
        List<Future<String>> futures = new ArrayList<>();
        AtomicReference<Token> lastDone = new AtomicReference<>();
        try {
            for (int i = 0; i < parts; i++) {
                long start = size * i / parts, end = size * (i + 1) / parts;
                Token partToken = new Token(token.get());
                futures.add(pool.submit(() -> {
                    String partUrl = uploadRange(file, endpoint, partToken, start, end, chunkSize, "partial");
                    lastDone.set(partToken);
                    return partUrl;
                }));
            }
            StringBuilder urls = new StringBuilder();
            for (Future<String> f : futures) urls.append(urls.length() == 0 ? "" : " ").append(f.get());
            // A token scoped to one of the parts may create the final upload; the part that finished
            // last holds the freshest one (an earlier part's token may have expired meanwhile).
            Token finalToken = new Token(lastDone.get().get());
            HttpResponse<String> r = send(request(endpoint, finalToken).POST(HttpRequest.BodyPublishers.noBody())
                    .header("Upload-Concat", "final;" + urls)
                    .header("Upload-Metadata", "filename " + b64(file.getFileName().toString().getBytes(StandardCharsets.UTF_8)))
                    .build(), finalToken);
            if (r.statusCode() != 201) throw new IOException("final concatenation answered " + r.statusCode());
            String url = URI.create(endpoint).resolve(r.headers().firstValue("Location").orElseThrow()).toString();
            long deadline = System.currentTimeMillis() + 600_000;
            while (System.currentTimeMillis() < deadline) {  // the server assembles in the background
                HttpResponse<String> head = send(request(url, finalToken).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), finalToken);
                if (head.headers().firstValue("Upload-Offset").map(o -> Long.parseLong(o) == size).orElse(false)) return url;
                Thread.sleep(100);
            }
            throw new IOException("the server did not finish assembling " + url);
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * The chunk as a request body, paced by --limit-rate while it is sent. Pacing inside the body, not
     * by sleeping between requests: the server checks a token when a request starts, so a long PATCH
     * is fine, but a pause between requests longer than the token's lifetime would end the upload.
     */
    static HttpRequest.BodyPublisher body(byte[] chunk) {
        if (limitRate <= 0) return HttpRequest.BodyPublishers.ofByteArray(chunk);
        return HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofInputStream(() ->
                new FilterInputStream(new ByteArrayInputStream(chunk)) {
                    @Override public int read(byte[] b, int off, int len) throws IOException {
                        int n = super.read(b, off, Math.min(len, 16 * 1024));
                        if (n > 0) {
                            try { Thread.sleep(n * 1000L / limitRate); }
                            catch (InterruptedException e) { Thread.currentThread().interrupt(); throw new InterruptedIOException(); }
                        }
                        return n;
                    }
                }), chunk.length);
    }

    static String b64(byte[] data) { return Base64.getEncoder().encodeToString(data); }
}

// Resumable tus upload with rotating tokens, JDK only (java.net.http). Run without compiling:
//
//   java TusUpload.java FILE ENDPOINT [--token JWT] [--parallel N] [--chunk-size BYTES]
//                       [--limit-rate BYTES_PER_S] [--url UPLOAD_URL] [--resume-file FILE]
//
// The token may also come from the environment variable TUS_TOKEN (flags show in `ps`).
//
// Sends the file in chunks (PATCH), each with "Upload-Checksum: sha1 <base64>". Every response may
// carry X-New-Token: the next request uses it, so short-lived tokens never run out. Rotated tokens are
// scoped to their owner, so ONE token serves every part and the final concatenation.
// After a network error or a 409/423/5xx it asks the server where it is (HEAD, retried with back-off
// while the server is unreachable) and resumes from there. With --parallel N the file is cut into N
// partial uploads sent on a thread pool, then merged by a final concatenation (Upload-Concat).
//
// Resume after a kill or a crash: the upload URL(s) are written to the resume file (default
// .tus-resume-<file name>-<size>-java[-parallel] in the current directory) before any byte is sent; run the same
// command again and it goes on where the server is. --url UPLOAD_URL resumes one upload by hand.
// --limit-rate caps the whole upload (all parts together), like `tusserver upload --limit-rate`.
// Progress goes to stderr; the upload URL is the last line of stdout. Exit 1 on failure, 3 on a 401.

import java.io.ByteArrayInputStream;
import java.io.FilterInputStream;
import java.io.IOException;
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
import java.util.concurrent.atomic.AtomicLong;

public class TusUpload {
    // HTTP/1.1: the default (HTTP/2) sends "Upgrade: h2c" on plain http://, which tus servers refuse with a body.
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
            .connectTimeout(Duration.ofSeconds(10)).build();
    static final int MAX_RETRIES = 10;
    static RateLimiter limiter = new RateLimiter(0);
    static Progress progress;

    /** An answer that retrying cannot change (400, 403, 413...): not retried, unlike a network error or a 5xx. */
    static class Refused extends IOException {
        Refused(String message) { super(message); }
    }

    /** A missing or refused token (401). */
    static final class AuthException extends Refused {
        AuthException(String message) { super(message); }
    }

    /** The newest token; one for the whole run (rotated tokens are scoped to the owner, not the upload). */
    static final class Token {
        private volatile String value;
        Token(String value) { this.value = value; }
        String get() { return value; }
        void update(HttpResponse<?> response) {
            response.headers().firstValue("X-New-Token").ifPresent(t -> value = t);
        }
    }

    /** A token bucket shared by every part, so --limit-rate caps the total, not each part. */
    static final class RateLimiter {
        private final long bytesPerSecond;
        private long next = System.nanoTime();
        RateLimiter(long bytesPerSecond) { this.bytesPerSecond = bytesPerSecond; }
        void acquire(int bytes) throws InterruptedException {
            if (bytesPerSecond <= 0) return;
            long wait;
            synchronized (this) {
                long now = System.nanoTime();
                long start = Math.max(now, next);
                next = start + bytes * 1_000_000_000L / bytesPerSecond;
                wait = start - now;
            }
            if (wait > 0) Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
        }
    }

    /** Bytes the server confirmed, printed to stderr every 2 s and once at the end; the rate counts this run only. */
    static final class Progress {
        final long total;
        final AtomicLong done = new AtomicLong();
        final long started = System.nanoTime();
        long baseline;
        long lastPrint = System.nanoTime();
        Progress(long total) { this.total = total; }
        void resumeFrom(long offset) { baseline = offset; done.set(offset); }
        synchronized void add(long bytes) {
            done.addAndGet(bytes);
            if (System.nanoTime() - lastPrint > 2_000_000_000L) { lastPrint = System.nanoTime(); print(false); }
        }
        double seconds() { return Math.max((System.nanoTime() - started) / 1e9, 1e-3); }
        void print(boolean last) {
            long now = done.get();
            double rate = (now - baseline) / seconds();
            System.err.printf("%s %d of %d bytes (%.0f%%) in %.1f s, %.1f KiB/s%n", last ? "stored" : "sent",
                    now, total, total == 0 ? 100.0 : 100.0 * now / total, seconds(), rate / 1024);
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: java TusUpload.java FILE ENDPOINT [--token JWT] [--parallel N] [--chunk-size BYTES]"
                    + " [--limit-rate B/S] [--url UPLOAD_URL] [--resume-file FILE]");
            System.exit(2);
        }
        Path file = Path.of(args[0]);
        String endpoint = args[1];
        String token = System.getenv("TUS_TOKEN");
        String url = null;
        Path resumeFile = null;
        int parallel = 1;
        int chunkSize = 4 * 1024 * 1024;
        for (int i = 2; i < args.length; i++) {
            switch (args[i]) {
                case "--token" -> token = args[++i];
                case "--parallel" -> parallel = Integer.parseInt(args[++i]);
                case "--chunk-size" -> chunkSize = Integer.parseInt(args[++i]);
                case "--limit-rate" -> limiter = new RateLimiter(Long.parseLong(args[++i]));
                case "--url" -> url = args[++i];
                case "--resume-file" -> resumeFile = Path.of(args[++i]);
                default -> { System.err.println("unknown option " + args[i]); System.exit(2); }
            }
        }
        long size = Files.size(file);
        if (resumeFile == null) {
            resumeFile = Path.of(".tus-resume-" + file.getFileName() + "-" + size + "-java" + (parallel > 1 ? "-parallel" : ""));
        }
        progress = new Progress(size);
        try {
            Resume resume = new Resume(resumeFile);
            Token shared = new Token(token);
            String done = parallel > 1 && size >= parallel
                    ? uploadParallel(file, endpoint, shared, parallel, chunkSize, resume)
                    : uploadOne(file, endpoint, shared, chunkSize, url != null ? url : resume.get("url"), resume);
            progress.print(true);
            resume.delete();
            System.out.println(done);
        } catch (AuthException e) {
            System.err.println("upload failed: " + e.getMessage());
            System.exit(3);
        } catch (Exception e) {
            System.err.println("upload failed: " + (e.getMessage() != null ? e.getMessage() : e.toString()));
            System.exit(1);
        }
    }

    /** Upload URLs remembered across runs: lines "url U", "part I U", "final U". */
    static final class Resume {
        final Path path;
        final List<String> lines = new ArrayList<>();
        Resume(Path path) throws IOException {
            this.path = path;
            if (Files.exists(path)) {
                lines.addAll(Files.readAllLines(path));
                System.err.println("resuming from " + path);
            }
        }
        synchronized String get(String key) {
            for (String line : lines) if (line.startsWith(key + " ")) return line.substring(key.length() + 1);
            return null;
        }
        synchronized void put(String key, String value) throws IOException {
            lines.removeIf(line -> line.startsWith(key + " "));
            lines.add(key + " " + value);
            Files.write(path, lines);
        }
        void delete() throws IOException { Files.deleteIfExists(path); }
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
        if (response.statusCode() == 401) {
            throw new AuthException(token.get() == null ? "401: the server needs a token (pass --token)"
                    : "401: the server refused the token (" + response.headers().firstValue("WWW-Authenticate").orElse("") + ")");
        }
        return response;
    }

    static void backoff(int attempt, String why) throws InterruptedException {
        long delay = (long) (Math.min(30_000, 250L << Math.min(attempt, 7)) * (0.5 + Math.random() / 2));
        System.err.printf("%s; retrying in %.1f s%n", why, delay / 1000.0);
        Thread.sleep(delay);
    }

    static String create(String endpoint, Token token, long length, String concat, String filename) throws Exception {
        for (int attempt = 0; ; attempt++) {
            String why;
            try {
                HttpRequest.Builder b = request(endpoint, token).POST(HttpRequest.BodyPublishers.noBody())
                        .header("Upload-Length", Long.toString(length))
                        .header("Upload-Metadata", "filename " + b64(filename.getBytes(StandardCharsets.UTF_8)));
                if (concat != null) b.header("Upload-Concat", concat);
                HttpResponse<String> r = send(b.build(), token);
                if (r.statusCode() == 201) return URI.create(endpoint).resolve(r.headers().firstValue("Location").orElseThrow()).toString();
                if (r.statusCode() != 423 && r.statusCode() < 500) throw new Refused("creation answered " + r.statusCode() + ": " + r.body().trim());
                why = "creation answered " + r.statusCode();
            } catch (Refused e) {
                throw e;
            } catch (IOException e) {
                why = "cannot reach the server (" + e + ")";
            }
            if (attempt >= MAX_RETRIES) throw new IOException(why);
            backoff(attempt, why);
        }
    }

    /**
     * The server's offset, asked until it answers: an outage (connection refused, 5xx) is waited out.
     * -1: the upload is gone; -2: no offset yet (a final concatenation still being assembled).
     */
    static long offsetOf(String url, Token token) throws Exception {
        for (int attempt = 0; ; attempt++) {
            String why;
            try {
                HttpResponse<String> r = send(request(url, token).method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), token);
                if (r.statusCode() == 200) return r.headers().firstValue("Upload-Offset").map(Long::parseLong).orElse(-2L);
                if (r.statusCode() == 404 || r.statusCode() == 410) return -1;
                if (r.statusCode() != 423 && r.statusCode() < 500) throw new Refused("HEAD " + url + " answered " + r.statusCode());
                why = "HEAD answered " + r.statusCode();
            } catch (Refused e) {
                throw e;
            } catch (IOException e) {
                why = "cannot reach the server (" + e + ")";
            }
            if (attempt >= MAX_RETRIES) throw new IOException(why);
            backoff(attempt, why);
        }
    }

    static String uploadOne(Path file, String endpoint, Token token, int chunkSize, String url, Resume resume) throws Exception {
        long size = Files.size(file);
        long offset = url == null ? -1 : offsetOf(url, token);
        if (offset < 0) {
            url = create(endpoint, token, size, null, file.getFileName().toString());
            offset = 0;
        }
        resume.put("url", url);
        System.err.println((offset > 0 ? "resuming at " + offset + " of " + size + " bytes of " : "upload URL: ") + url);
        progress.resumeFrom(offset);
        sendRange(file, url, token, 0, size, offset, chunkSize);
        return url;
    }

    /** PATCH bytes [start + offset, start + length) of the file to `url`, resuming after any failure. */
    static void sendRange(Path file, String url, Token token, long start, long length, long offset, int chunkSize) throws Exception {
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
                String why;
                try {
                    HttpResponse<String> r = send(patch, token);
                    if (r.statusCode() == 204) {
                        long next = Long.parseLong(r.headers().firstValue("Upload-Offset").orElseThrow());
                        progress.add(next - offset);
                        offset = next;
                        attempt = 0;
                        continue;
                    }
                    int s = r.statusCode();
                    if (!(s == 409 || s == 423 || s == 460 || s >= 500)) throw new Refused("PATCH answered " + s + ": " + r.body().trim());
                    why = "PATCH answered " + s;
                } catch (Refused e) {
                    throw e;
                } catch (IOException e) {
                    why = "PATCH failed (" + e + ")";
                }
                if (++attempt > MAX_RETRIES) throw new IOException(why);
                backoff(attempt, why);
                long known = offsetOf(url, token);  // resume where the server says it is
                if (known < 0) throw new IOException(url + " disappeared from the server");
                progress.add(known - offset);
                offset = known;
            }
        }
    }

    static String uploadParallel(Path file, String endpoint, Token token, int parts, int chunkSize, Resume resume) throws Exception {
        long size = Files.size(file);
        String url = resume.get("final");
        if (url == null) {
            String[] urls = new String[parts];
            long[] offsets = new long[parts];
            long already = 0;
            for (int i = 0; i < parts; i++) {
                long start = size * i / parts, end = size * (i + 1) / parts;
                urls[i] = resume.get("part" + i);
                offsets[i] = urls[i] == null ? -1 : offsetOf(urls[i], token);
                if (offsets[i] < 0) {
                    urls[i] = create(endpoint, token, end - start, "partial", file.getFileName().toString());
                    offsets[i] = 0;
                    resume.put("part" + i, urls[i]);
                }
                already += offsets[i];
            }
            System.err.println(already > 0 ? "resuming at " + already + " of " + size + " bytes" : "sending " + parts + " parts");
            progress.resumeFrom(already);
            ExecutorService pool = Executors.newFixedThreadPool(parts);
            try {
                List<Future<?>> futures = new ArrayList<>();
                for (int i = 0; i < parts; i++) {
                    long start = size * i / parts, end = size * (i + 1) / parts;
                    String partUrl = urls[i];
                    long partOffset = offsets[i];
                    futures.add(pool.submit(() -> { sendRange(file, partUrl, token, start, end - start, partOffset, chunkSize); return null; }));
                }
                for (Future<?> f : futures) f.get();
            } finally {
                pool.shutdownNow();
            }
            HttpResponse<String> r = send(request(endpoint, token).POST(HttpRequest.BodyPublishers.noBody())
                    .header("Upload-Concat", "final;" + String.join(" ", urls))
                    .header("Upload-Metadata", "filename " + b64(file.getFileName().toString().getBytes(StandardCharsets.UTF_8)))
                    .build(), token);
            if (r.statusCode() != 201) throw new IOException("final concatenation answered " + r.statusCode() + ": " + r.body().trim());
            url = URI.create(endpoint).resolve(r.headers().firstValue("Location").orElseThrow()).toString();
            resume.put("final", url);
        } else {
            progress.resumeFrom(size);
        }
        long deadline = System.currentTimeMillis() + 600_000;
        while (System.currentTimeMillis() < deadline) {  // the server assembles in the background
            if (offsetOf(url, token) == size) return url;
            Thread.sleep(100);
        }
        throw new IOException("the server did not finish assembling " + url);
    }

    /**
     * The chunk as a request body, paced by --limit-rate while it is sent. Pacing inside the body, not
     * by sleeping between requests: the server checks a token when a request starts, so a long PATCH
     * is fine, but a pause between requests longer than the token's lifetime would end the upload.
     */
    static HttpRequest.BodyPublisher body(byte[] chunk) {
        if (limiter.bytesPerSecond <= 0) return HttpRequest.BodyPublishers.ofByteArray(chunk);
        return HttpRequest.BodyPublishers.fromPublisher(HttpRequest.BodyPublishers.ofInputStream(() ->
                new FilterInputStream(new ByteArrayInputStream(chunk)) {
                    @Override public int read(byte[] b, int off, int len) throws IOException {
                        int n = super.read(b, off, Math.min(len, 16 * 1024));
                        if (n > 0) {
                            try { limiter.acquire(n); }
                            catch (InterruptedException e) { Thread.currentThread().interrupt(); throw new InterruptedIOException(); }
                        }
                        return n;
                    }
                }), chunk.length);
    }

    static String b64(byte[] data) { return Base64.getEncoder().encodeToString(data); }
}

import Foundation

/// A failure the host understands: `kind` becomes `error.kind` in result.json, next to the message and a hint
/// (what to do about it). Kinds used by the app: `protocol` (the job folder is malformed or from another protocol
/// version), `unknown_runtime`, `runtime_unavailable`, `unsupported_backend`, `model_compile` (Core ML could not
/// compile the .mlpackage on the device), `model_run` (the runtime cannot load or run this model). Any other error
/// that escapes becomes `runtime_failure`, as in devicelab/runner.py and the Android app.
struct JobError: Error, CustomStringConvertible {
    let kind: String
    let message: String
    let hint: String?

    init(_ kind: String, _ message: String, hint: String? = nil) {
        self.kind = kind
        self.message = message
        self.hint = hint
    }

    static func proto(_ message: String, hint: String? = nil) -> JobError {
        JobError("protocol", message, hint: hint)
    }

    var description: String { "\(kind): \(message)" }
}

/// The protocol's names, as devicelab/protocol.py spells them.
enum JobProtocol {
    static let jobSchema = "devicelab.job/1"
    static let resultSchema = "devicelab.result/1"
    static let jobFile = "job.json"
    static let resultFile = "result.json"
    static let doneMarker = "DONE"
    static let outputsDir = "outputs"

    static func outputFile(_ k: Int) -> String { "\(outputsDir)/output_\(k).bin" }

    /// Job ids as job.schema.json allows them: `^[A-Za-z0-9._-]{1,128}$` (also keeps them safe as folder names).
    static func isValidJobID(_ id: String) -> Bool {
        guard !id.isEmpty, id.count <= 128, id != ".", id != ".." else { return false }
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-")
        return id.allSatisfy { allowed.contains($0) }
    }

    /// Why `relative` is not a safe relative path inside a job or result folder, or nil when it is.
    static func relativePathProblem(_ relative: String) -> String? {
        if relative.isEmpty { return "is empty" }
        if relative.hasPrefix("/") { return "is absolute" }
        if relative.contains("\\") { return "contains a backslash" }
        if relative.split(separator: "/", omittingEmptySubsequences: false).contains("..") {
            return "goes up with '..'"
        }
        return nil
    }
}

/// One tensor named in job.json or result.json: raw little-endian values in `file`, dtype and shape here.
struct TensorSpec: Codable, Equatable {
    let name: String
    let dtype: String
    let shape: [Int]
    let file: String

    var json: [String: Any] { ["name": name, "dtype": dtype, "shape": shape, "file": file] }
}

/// job.json (`"schema": "devicelab.job/1"`), decoded field for field as devicelab/schemas/job.schema.json.
struct Job: Decodable {
    struct Model: Decodable {
        let format: String
        let variant: String
        let files: [String]
        let sha256: String
    }

    struct Accuracy: Decodable {
        let enabled: Bool
    }

    struct Performance: Decodable {
        let enabled: Bool
        let warmupRuns: Int
        let runs: Int
        let minSeconds: Double
        let maxSeconds: Double

        enum CodingKeys: String, CodingKey {
            case enabled
            case warmupRuns = "warmup_runs"
            case runs
            case minSeconds = "min_seconds"
            case maxSeconds = "max_seconds"
        }
    }

    struct Runtime: Decodable {
        let name: String
        let threads: Int?
        let delegate: String?
        let backend: String?
        let computeUnits: String?
        /// `deploy --profile`: also record the per-operator table, after every timed phase (absent: false).
        let profile: Bool?

        enum CodingKeys: String, CodingKey {
            case name, threads, delegate, backend, profile
            case computeUnits = "compute_units"
        }
    }

    let schema: String
    let id: String
    let model: Model
    let inputs: [TensorSpec]
    let accuracy: Accuracy
    let performance: Performance
    let runtime: Runtime
    let timeoutSeconds: Double

    enum CodingKeys: String, CodingKey {
        case schema, id, model, inputs, accuracy, performance, runtime
        case timeoutSeconds = "timeout_seconds"
    }

    /// Reads and checks `jobDir/job.json`; every problem is a `protocol` JobError.
    static func read(from jobDir: URL) throws -> Job {
        let url = jobDir.appendingPathComponent(JobProtocol.jobFile)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw JobError.proto("no \(JobProtocol.jobFile) in \(jobDir.path)",
                                 hint: "push the whole job folder before starting the app")
        }
        let data = try Data(contentsOf: url)
        return try parse(data)
    }

    static func parse(_ data: Data) throws -> Job {
        // The schema version first, so a job from another protocol version gets a clear message.
        if let top = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let schema = top["schema"] as? String, schema != JobProtocol.jobSchema {
            throw JobError.proto("job.json is '\(schema)', this app reads '\(JobProtocol.jobSchema)'",
                                 hint: "the host's devicelab and this app are from different versions; update both")
        }
        let job: Job
        do {
            job = try JSONDecoder().decode(Job.self, from: data)
        } catch let error as DecodingError {
            throw JobError.proto("job.json does not follow the devicelab job schema: \(describe(error))",
                                 hint: "the host's devicelab and this app may be from different versions")
        }
        try job.validate()
        return job
    }

    private func validate() throws {
        if schema != JobProtocol.jobSchema {
            throw JobError.proto("job.json is '\(schema)', this app reads '\(JobProtocol.jobSchema)'")
        }
        if !JobProtocol.isValidJobID(id) { throw JobError.proto("job id '\(id)' is not allowed") }
        if model.files.isEmpty { throw JobError.proto("job.json names no model file") }
        if inputs.isEmpty { throw JobError.proto("job.json names no input") }
        for file in model.files + inputs.map({ $0.file }) {
            if let problem = JobProtocol.relativePathProblem(file) {
                throw JobError.proto("'\(file)' \(problem)", hint: "job files must be relative to the job folder")
            }
        }
        if performance.warmupRuns < 0 || performance.runs < 1 || performance.minSeconds < 0
            || !(performance.maxSeconds > 0) {
            throw JobError.proto("job.performance is out of range (warmup_runs >= 0, runs >= 1, min_seconds >= 0,"
                                 + " max_seconds > 0)")
        }
        if let threads = runtime.threads, threads < 1 { throw JobError.proto("runtime.threads must be >= 1") }
        if !(timeoutSeconds > 0) { throw JobError.proto("timeout_seconds must be > 0") }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [CodingKey]) -> String {
            let text = keys.map { $0.intValue.map(String.init) ?? $0.stringValue }.joined(separator: "/")
            return text.isEmpty ? "(top level)" : text
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "\(path(context.codingPath + [key])) is missing"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        case .dataCorrupted(let context):
            return "\(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return String(describing: error)
        }
    }
}

/// How the host starts a job: `--job-id <id>` (or `--job-id=<id>`) in the launch arguments, or the
/// `DEVICELAB_JOB_ID` environment variable (`SIMCTL_CHILD_DEVICELAB_JOB_ID` on the host side of simctl).
enum LaunchRequest {
    static func jobID(arguments: [String], environment: [String: String]) -> String? {
        if let i = arguments.firstIndex(of: "--job-id"), i + 1 < arguments.count {
            return arguments[i + 1]
        }
        if let arg = arguments.first(where: { $0.hasPrefix("--job-id=") }) {
            return String(arg.dropFirst("--job-id=".count))
        }
        if let value = environment["DEVICELAB_JOB_ID"], !value.isEmpty {
            return value
        }
        return nil
    }
}

extension LaunchRequest {
    /// `--cleanup <id>`: the host has copied job <id>'s result back and asks the app to remove the job's folders
    /// (devicectl can copy files to and from a phone but not delete them).
    static func cleanupID(arguments: [String]) -> String? {
        guard let i = arguments.firstIndex(of: "--cleanup"), i + 1 < arguments.count else { return nil }
        return arguments[i + 1]
    }
}

/// The app's own files: job folders are removed once the host has the result, as on Android.
enum Housekeeping {
    /// Removes `documents/jobs/<id>` and `documents/results/<id>`; returns what was removed. An id that is not a
    /// valid job id removes nothing (it could name a path outside the folders).
    @discardableResult
    static func remove(jobID id: String, documents: URL) -> [String] {
        guard JobProtocol.isValidJobID(id) else { return [] }
        var removed: [String] = []
        for folder in ["jobs", "results"] {
            let url = documents.appendingPathComponent(folder).appendingPathComponent(id)
            if (try? FileManager.default.attributesOfItem(atPath: url.path)) != nil,
               (try? FileManager.default.removeItem(at: url)) != nil {
                removed.append("\(folder)/\(id)")
            }
        }
        return removed
    }
}

enum Messages {
    /// `text` on one line (line breaks become "; "), at most `limit` characters.
    static func oneLine(_ text: String, limit: Int = 300) -> String {
        let lines = text.split(whereSeparator: { $0.isNewline })
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        let joined = lines.joined(separator: "; ")
        return joined.count > limit ? String(joined.prefix(limit)) + "..." : joined
    }
}

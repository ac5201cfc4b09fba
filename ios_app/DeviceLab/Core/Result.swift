import Foundation

/// One memory figure, always with the method that produced it (numbers differ between methods).
struct MemorySample: Equatable {
    let metric: String
    let value: Double
    let unit: String // B, KiB or MiB
    let method: String
    let phase: String

    var json: [String: Any] {
        ["metric": metric, "value": value, "unit": unit, "method": method, "phase": phase]
    }
}

/// timings_ms: raw samples in milliseconds, never summaries (the host computes those once).
struct Timings {
    var load: Double?
    var firstInference: Double?
    var warmup: [Double] = []
    var runs: [Double] = []
    var accuracyTotal: Double?

    /// Milliseconds between two clock readings (0 if the clock went backwards, which a monotonic clock never does).
    static func ms(from start: UInt64, to end: UInt64) -> Double { end >= start ? Double(end - start) / 1e6 : 0 }

    var json: [String: Any] {
        ["load": JSON.orNull(load), "first_inference": JSON.orNull(firstInference), "warmup": warmup, "runs": runs,
         "accuracy_total": JSON.orNull(accuracyTotal)]
    }
}

/// A result.json (`"schema": "devicelab.result/1"`) being filled in; fields as devicelab/protocol.py's Result.
final class JobResult {
    static let maxMessage = 2000

    var jobID: String
    var status = "ok"
    var errorKind: String?
    var errorMessage: String?
    var errorHint: String?
    var device: [String: Any]
    var runtimeUsed: String?
    var timings = Timings()
    var memory: [MemorySample] = []
    var outputs: [TensorSpec] = []
    var extra: [String: Any] = [:]
    var simulated = false

    init(jobID: String, device: [String: Any]) {
        self.jobID = jobID
        self.device = device
    }

    var ok: Bool { status == "ok" }

    /// Turns this into an error result: what was measured so far is dropped (timings, outputs, what ran), what
    /// explains the failure is kept (device, memory, extra).
    func fail(kind: String, message: String, hint: String?) {
        status = "error"
        errorKind = kind
        errorMessage = message.count > JobResult.maxMessage ? String(message.prefix(JobResult.maxMessage)) : message
        errorHint = hint
        runtimeUsed = nil
        timings = Timings()
        outputs = []
    }

    /// The document as result.schema.json describes it (JSONSerialization types; nil written as null).
    var json: [String: Any] {
        var error: Any = NSNull()
        if !ok {
            error = ["kind": errorKind ?? "runtime_failure", "message": errorMessage ?? "",
                     "hint": JSON.orNull(errorHint)] as [String: Any]
        }
        return [
            "schema": JobProtocol.resultSchema,
            "job_id": jobID,
            "status": status,
            "error": error,
            "device": device,
            "runtime_used": JSON.orNull(runtimeUsed),
            "timings_ms": timings.json,
            "memory": memory.map { $0.json },
            "outputs": outputs.map { $0.json },
            "extra": extra,
            "simulated": simulated,
        ]
    }
}

enum JSON {
    static func orNull(_ value: Any?) -> Any { value ?? NSNull() }

    /// A copy JSONSerialization accepts: non-finite numbers become null (JSONSerialization raises an Objective-C
    /// exception on them, which Swift cannot catch), unknown objects become their description.
    static func sanitize(_ value: Any) -> Any {
        switch value {
        case let dict as [String: Any]:
            return dict.mapValues { sanitize($0) }
        case let array as [Any]:
            return array.map { sanitize($0) }
        case is Bool, is String, is Int, is NSNull, is Int32, is Int64, is UInt64, is UInt32:
            return value // Bool first: it must stay a JSON boolean
        case let d as Double:
            return d.isFinite ? d : NSNull()
        case let f as Float:
            return f.isFinite ? Double(f) : NSNull()
        default:
            return String(describing: value)
        }
    }

    /// Pretty, key-sorted UTF-8 JSON of a sanitized document.
    static func data(_ document: [String: Any]) throws -> Data {
        let clean = sanitize(document)
        guard JSONSerialization.isValidJSONObject(clean) else {
            throw JobError("runtime_failure", "the result document is not valid JSON")
        }
        return try JSONSerialization.data(withJSONObject: clean, options: [.prettyPrinted, .sortedKeys])
    }
}

import Foundation
import XCTest
#if canImport(DeviceLabCore)
@testable import DeviceLabCore // the Swift package; the Xcode test bundle compiles Core in
#endif

/// A clock that advances `step` nanoseconds on every reading, so timings and time limits are deterministic.
final class FakeClock: NanoClock {
    private(set) var now: UInt64 = 0
    let step: UInt64

    init(stepNanos: UInt64 = 1_000_000) { step = stepNanos }

    func nanoTime() -> UInt64 {
        now += step
        return now
    }
}

final class FakeMemory: MemoryProbe {
    private(set) var observations = 0

    func sample(phase: String) -> [MemorySample] {
        [MemorySample(metric: "phys_footprint", value: 10, unit: "MiB", method: "fake", phase: phase)]
    }

    func resetPeak() {}

    func observe() { observations += 1 }

    func peak(phase: String) -> [MemorySample] {
        [MemorySample(metric: "peak_phys_footprint", value: 12, unit: "MiB", method: "fake", phase: phase)]
    }
}

struct FakeFailure: Error {}

/// A runtime that records every call. Its "model" maps one sample x (n floats) to [[sum(x), first(x)]], shape
/// [1, 2], so outputs are checkable.
final class FakeRuntime: ModelRuntime {
    enum FailAt { case none, load, run, version }

    let name = "fake"
    private(set) var calls: [String] = []
    private let failAt: FailAt
    private let loadError: Error
    private var runs = 0
    private let failOnRun: Int

    init(failAt: FailAt = .none, loadError: Error = JobError("model_compile", "fake compile failure"),
         failOnRun: Int = 3) {
        self.failAt = failAt
        self.loadError = loadError
        self.failOnRun = failOnRun
    }

    func version() throws -> String {
        calls.append("version")
        if failAt == .version { throw FakeFailure() }
        return "fake 1.0"
    }

    func load(modelURL: URL, job: Job) throws {
        calls.append("load")
        if failAt == .load { throw loadError }
    }

    func used() -> String { "fake-cpu" }

    func prepare(_ sample: [TensorData]) throws -> Any {
        calls.append("prepare")
        XCTAssertEqual(sample.first?.shape.first, 1, "prepare gets one sample with a batch of 1")
        return sample[0].floats()
    }

    func run(_ feed: Any) throws -> Any {
        calls.append("run")
        runs += 1
        if failAt == .run && runs == failOnRun { throw FakeFailure() }
        let x = feed as! [Float]
        // Typed: in a function returning Any, `x.first ?? 0` picks the method first(where:) and the result is no
        // [Float] (found by the first real build, on Linux).
        let first: Float = x.first ?? 0
        let output: [Float] = [x.reduce(0, +), first]
        return output
    }

    func finish(_ raw: Any) throws -> [TensorData] {
        calls.append("finish")
        return [TensorData.float32(shape: [1, 2], values: raw as! [Float])]
    }

    func release(_ raw: Any) { calls.append("release") }

    func outputNames() -> [String] { ["logits"] }

    func extra() -> [String: Any] { ["fake_extra": 1] }

    /// What `profile(job:)` answers (a table, or an error to throw); nil: the protocol's "no table" answer.
    var planAnswer: Result<[String: Any], Error>?

    func profile(job: Job) throws -> [String: Any] {
        calls.append("profile")
        guard let answer = planAnswer else {
            return ComputePlanTable.unavailable("the fake runtime gives no per-operator placement")
        }
        return try answer.get()
    }

    var simulated: Bool { true }

    func close() { calls.append("close") }
}

/// Job folders on disk, as the host lays them out.
enum JobFixture {
    static func temporaryFolder() -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("devicelab-tests-" + UUID().uuidString)
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A job folder `root/jobs/<id>` with `samples` float32 samples of shape [2, 2] (values i*10 + k) and a fake
    /// model file; returns (jobDir, resultDir).
    static func make(root: URL, id: String = "fake-job-1", samples: Int = 3, accuracy: Bool = true,
                     performance: Bool = true, warmup: Int = 2, runs: Int = 4, minSeconds: Double = 0,
                     maxSeconds: Double = 100, edit: ((inout [String: Any]) -> Void)? = nil) throws -> (URL, URL) {
        let jobDir = root.appendingPathComponent("jobs").appendingPathComponent(id)
        let resultDir = root.appendingPathComponent("results").appendingPathComponent(id)
        try FileManager.default.createDirectory(at: jobDir.appendingPathComponent("model"),
                                                withIntermediateDirectories: true)
        try Data("fake model".utf8).write(to: jobDir.appendingPathComponent("model/model.fake"))
        var values: [Float] = []
        for i in 0..<samples {
            for k in 0..<4 { values.append(Float(i * 10 + k)) }
        }
        _ = try Tensors.write(root: jobDir, relative: "inputs/input_0.bin", name: "input",
                              tensor: TensorData.float32(shape: [samples, 2, 2], values: values))
        var doc: [String: Any] = [
            "schema": "devicelab.job/1",
            "id": id,
            "model": ["format": "coreml", "variant": "coreml-fp32", "files": ["model/model.fake"],
                      "sha256": String(repeating: "0", count: 64)],
            "inputs": [["name": "input", "dtype": "float32", "shape": [samples, 2, 2], "file": "inputs/input_0.bin"]],
            "accuracy": ["enabled": accuracy],
            "performance": ["enabled": performance, "warmup_runs": warmup, "runs": runs, "min_seconds": minSeconds,
                            "max_seconds": maxSeconds],
            "runtime": ["name": "fake", "threads": NSNull(), "delegate": NSNull(), "backend": NSNull(),
                        "compute_units": "all"],
            "timeout_seconds": 600,
        ]
        edit?(&doc)
        let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted])
        try data.write(to: jobDir.appendingPathComponent("job.json"))
        return (jobDir, resultDir)
    }

    static func readJSON(_ url: URL) throws -> [String: Any] {
        let data = try Data(contentsOf: url)
        return try JSONSerialization.jsonObject(with: data) as! [String: Any]
    }
}

/// A runtime over typed inputs, as a text model's: `ids` (int64), `mask` (int32) and `flag` (bool), each [1, L].
/// It checks that every input reaches `prepare` in its own dtype and answers with three outputs of three dtypes:
/// `masked_sum` int64 [1] (sum of ids where mask), `kept` int32 [1, 1] (how many mask values are set) and
/// `flagged` float32 [1, 1] (the flag as 0/1).
final class TypedRuntime: ModelRuntime {
    let name = "typed"
    private(set) var seenDtypes: [[DType]] = []

    func version() throws -> String { "typed 1.0" }
    func load(modelURL: URL, job: Job) throws {}
    func used() -> String { "typed-cpu" }

    func prepare(_ sample: [TensorData]) throws -> Any {
        seenDtypes.append(sample.map { $0.dtype })
        return sample
    }

    func run(_ feed: Any) throws -> Any {
        let inputs = feed as! [TensorData]
        let ids = inputs[0].integers()
        let mask = inputs[1].integers()
        let sum = zip(ids, mask).reduce(Int64(0)) { $0 + ($1.1 != 0 ? $1.0 : 0) }
        let kept = Int32(mask.filter { $0 != 0 }.count)
        let outputs: [TensorData] = [TensorData.int64(shape: [1], values: [sum]),
                                     TensorData.int32(shape: [1, 1], values: [kept]),
                                     inputs[2].converted(to: .float32)]
        return outputs
    }

    func finish(_ raw: Any) throws -> [TensorData] { raw as! [TensorData] }
    func outputNames() -> [String] { ["masked_sum", "kept", "flagged"] }
}

extension JobFixture {
    /// A job folder with the given named inputs (each [N, ...], any dtype), written as the host writes them.
    static func make(root: URL, id: String, inputs: [(String, TensorData)]) throws -> (URL, URL) {
        let (jobDir, resultDir) = try make(root: root, id: id, samples: inputs[0].1.shape[0], warmup: 1, runs: 2)
        var specs: [[String: Any]] = []
        for (k, (name, tensor)) in inputs.enumerated() {
            specs.append(try Tensors.write(root: jobDir, relative: "inputs/input_\(k).bin", name: name,
                                           tensor: tensor).json)
        }
        var doc = try readJSON(jobDir.appendingPathComponent("job.json"))
        doc["inputs"] = specs
        try JSONSerialization.data(withJSONObject: doc).write(to: jobDir.appendingPathComponent("job.json"))
        return (jobDir, resultDir)
    }
}

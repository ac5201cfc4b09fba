import XCTest
#if canImport(DeviceLabCore)
@testable import DeviceLabCore // the Swift package; the Xcode test bundle compiles Core in
#endif

/// `deploy --profile` on iOS: the MLComputePlan table built from what Core ML said about each op, and where the
/// measurement asks for it (after every timed phase, never failing the job).
final class ComputePlanTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = JobFixture.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    private func op(_ name: String, _ type: String, _ preferred: String?, _ cost: Double?,
                    supported: [String] = ["cpu", "gpu", "neural-engine"]) -> PlannedOperation {
        PlannedOperation(name: name, opType: type, preferred: preferred, supported: preferred == nil ? [] : supported,
                         costWeight: cost)
    }

    func testASilentFallbackToTheCPUShowsAsAShareBelowOne() throws {
        // The Neural Engine was asked for (cpu-ane / all); Core ML prefers the CPU for one op of four.
        let ops = [op("conv1_weight", "const", nil, nil),
                   op("conv1", "conv", "neural-engine", 0.5),
                   op("relu1", "relu", "neural-engine", 0.1),
                   op("flatten", "reshape", "cpu", 0.3, supported: ["cpu"]),
                   op("dense", "linear", "neural-engine", 0.1)]
        let table = ComputePlanTable.make(ops, requested: "neural-engine")
        XCTAssertEqual(table["source"] as? String, "Core ML MLComputePlan (estimated, not timed)")
        XCTAssertEqual(table["requested_provider"] as? String, "neural-engine")
        XCTAssertEqual(table["runs"] as? Int, 0)
        XCTAssertEqual(table["share_ops_on_requested"] as? Double, 0.75) // the const is not placed: 3 of 4
        XCTAssertEqual(table["share_cost_on_requested"] as! Double, 0.7, accuracy: 1e-9)
        XCTAssertTrue(table["share_time_on_requested"] is NSNull)
        XCTAssertEqual(table["ops_planned"] as? Int, 4)
        XCTAssertEqual(table["ops_without_device"] as? Int, 1)
        XCTAssertEqual(table["ops_by_device"] as? [String: Int], ["neural-engine": 3, "cpu": 1])
        let rows = table["operators"] as! [[String: Any]]
        XCTAssertEqual(rows.map { $0["name"] as? String }, ["conv1_weight", "conv1", "relu1", "flatten", "dense"])
        XCTAssertTrue(rows[0]["provider"] is NSNull)
        XCTAssertTrue(rows[0]["cost_weight"] is NSNull)
        XCTAssertEqual(rows[3]["provider"] as? String, "cpu")
        XCTAssertEqual(rows[3]["supported"] as? [String], ["cpu"])
        XCTAssertEqual(rows[3]["op_type"] as? String, "reshape")
        XCTAssertEqual(rows[1]["cost_weight"] as? Double, 0.5)
        XCTAssertTrue(rows.allSatisfy { $0["mean_ms"] is NSNull }) // estimated, nothing timed
    }

    func testEverythingOnTheRequestedDeviceIsAShareOfOne() {
        let table = ComputePlanTable.make([op("a", "conv", "gpu", 0.8), op("b", "add", "gpu", 0.2)],
                                          requested: "gpu")
        XCTAssertEqual(table["share_ops_on_requested"] as? Double, 1.0)
        XCTAssertEqual(table["share_cost_on_requested"] as? Double, 1.0)
    }

    func testNeuralNetworkLayersHaveNoCostSoNoCostShare() {
        let table = ComputePlanTable.make([op("dense", "innerProduct", "neural-engine", nil),
                                           op("softmax", "softmax", "cpu", nil)], requested: "neural-engine")
        XCTAssertEqual(table["share_ops_on_requested"] as? Double, 0.5)
        XCTAssertTrue(table["share_cost_on_requested"] is NSNull)
    }

    func testNoPlacedOpGivesNoShareRatherThanADivisionByZero() throws {
        let table = ComputePlanTable.make([op("w", "const", nil, nil)], requested: "cpu")
        XCTAssertTrue(table["share_ops_on_requested"] is NSNull)
        XCTAssertTrue(table["share_cost_on_requested"] is NSNull)
        _ = try JSON.data(table) // and it is still valid JSON
    }

    func testComputeUnitsNameTheRequestedDevice() {
        XCTAssertEqual(ComputePlanTable.requestedDevice(computeUnits: "cpu"), "cpu")
        XCTAssertEqual(ComputePlanTable.requestedDevice(computeUnits: "cpu-gpu"), "gpu")
        XCTAssertEqual(ComputePlanTable.requestedDevice(computeUnits: "all"), "neural-engine")
        XCTAssertEqual(ComputePlanTable.requestedDevice(computeUnits: "cpu-ane"), "neural-engine")
        XCTAssertNil(ComputePlanTable.requestedDevice(computeUnits: "metal"))
    }

    func testTheTableIsWrittenAsTheHostReadsIt() throws {
        let table = ComputePlanTable.make([op("conv1", "conv", "neural-engine", 0.25)], requested: "neural-engine")
        let doc = try JSONSerialization.jsonObject(with: try JSON.data(table)) as! [String: Any]
        let row = (doc["operators"] as! [[String: Any]])[0]
        XCTAssertEqual(Set(row.keys), ["name", "op_type", "provider", "supported", "cost_weight", "mean_ms"])
        XCTAssertTrue(row["mean_ms"] is NSNull)
        XCTAssertEqual(doc["share_ops_on_requested"] as? Double, 1)
    }

    // MARK: - in the measurement

    private func run(_ runtime: FakeRuntime, profile: Bool?) throws -> (JobResult, [String: Any]) {
        let (jobDir, resultDir) = try JobFixture.make(root: root, samples: 2, warmup: 1, runs: 2) { doc in
            var runtimeSpec = doc["runtime"] as! [String: Any]
            if let profile = profile { runtimeSpec["profile"] = profile }
            doc["runtime"] = runtimeSpec
        }
        let result = try JobRunner(factory: { _ in runtime }, memory: FakeMemory(), device: ["platform": "ios"],
                                   clock: FakeClock(), progress: nil).run(jobDir: jobDir, resultDir: resultDir)
        return (result, try JobFixture.readJSON(resultDir.appendingPathComponent("result.json")))
    }

    func testTheJobAsksForAProfileThroughRuntimeProfile() throws {
        let data = Data("""
        {"schema": "devicelab.job/1", "id": "p", "model": {"format": "coreml", "variant": "coreml-fp32",
         "sha256": "\(String(repeating: "a", count: 64))", "files": ["model/model.mlpackage"]},
         "inputs": [{"name": "x", "dtype": "float32", "shape": [1, 2], "file": "inputs/input_0.bin"}],
         "accuracy": {"enabled": false},
         "performance": {"enabled": true, "warmup_runs": 0, "runs": 1, "min_seconds": 0, "max_seconds": 1},
         "runtime": {"name": "coreml", "compute_units": "all", "profile": true}, "timeout_seconds": 60}
        """.utf8)
        XCTAssertEqual(try Job.parse(data).runtime.profile, true)
        let without = String(decoding: data, as: UTF8.self).replacingOccurrences(of: ", \"profile\": true", with: "")
        XCTAssertNil(try Job.parse(Data(without.utf8)).runtime.profile) // older hosts send none: no profile
    }

    func testTheProfileIsAskedForAfterEveryTimedPhase() throws {
        let runtime = FakeRuntime()
        let table = ComputePlanTable.make([op("conv1", "conv", "cpu", 1.0)], requested: "neural-engine")
        runtime.planAnswer = .success(table)
        let (result, doc) = try run(runtime, profile: true)
        XCTAssertTrue(result.ok)
        XCTAssertEqual(runtime.calls.suffix(2), ["profile", "close"]) // after the last timed run, before close
        XCTAssertEqual(runtime.calls.filter { $0 == "profile" }.count, 1)
        let profile = (doc["extra"] as! [String: Any])["profile"] as! [String: Any]
        XCTAssertEqual(profile["share_ops_on_requested"] as? Double, 0)
        XCTAssertEqual(profile["requested_provider"] as? String, "neural-engine")
    }

    func testNoProfileWhenTheJobDoesNotAskForOne() throws {
        for asked in [nil, false] as [Bool?] {
            let runtime = FakeRuntime()
            let (result, doc) = try run(runtime, profile: asked)
            XCTAssertTrue(result.ok)
            XCTAssertFalse(runtime.calls.contains("profile"))
            XCTAssertNil((doc["extra"] as! [String: Any])["profile"])
        }
    }

    func testAFailingProfileIsRecordedAndTheJobStillSucceeds() throws {
        let runtime = FakeRuntime()
        runtime.planAnswer = .failure(JobError("runtime_failure", "MLComputePlan.load failed: model too large"))
        let (result, doc) = try run(runtime, profile: true)
        XCTAssertTrue(result.ok)
        XCTAssertEqual(doc["status"] as? String, "ok")
        XCTAssertEqual((doc["timings_ms"] as! [String: Any])["runs"] as? [Double], [1, 1])
        let profile = (doc["extra"] as! [String: Any])["profile"] as! [String: Any]
        XCTAssertEqual(profile["available"] as? Bool, false)
        XCTAssertEqual(profile["reason"] as? String, "profiling failed: MLComputePlan.load failed: model too large")

        let other = FakeRuntime()
        other.planAnswer = .failure(FakeFailure())
        let (_, otherDoc) = try run(other, profile: true)
        let reason = ((otherDoc["extra"] as! [String: Any])["profile"] as! [String: Any])["reason"] as? String
        XCTAssertEqual(reason, "profiling failed: FakeFailure: FakeFailure()")
    }

    func testARuntimeWithoutATableSaysWhy() throws {
        let (result, doc) = try run(FakeRuntime(), profile: true)
        XCTAssertTrue(result.ok)
        let profile = (doc["extra"] as! [String: Any])["profile"] as! [String: Any]
        XCTAssertEqual(profile["available"] as? Bool, false)
        XCTAssertEqual(profile["reason"] as? String, "the fake runtime gives no per-operator placement")
        XCTAssertEqual(PlainRuntime().profileReason, "the plain runtime of the iOS app gives no per-operator "
                       + "placement or times")
    }
}

/// A runtime that keeps the protocol's default `profile(job:)`.
private final class PlainRuntime: ModelRuntime {
    let name = "plain"
    func version() throws -> String { "1" }
    func load(modelURL: URL, job: Job) throws {}
    func used() -> String { "plain" }
    func prepare(_ sample: [TensorData]) throws -> Any { sample }
    func run(_ feed: Any) throws -> Any { feed }
    func finish(_ raw: Any) throws -> [TensorData] { [] }

    var profileReason: String? {
        let job = try! Job.parse(Data("""
        {"schema": "devicelab.job/1", "id": "p", "model": {"format": "coreml", "variant": "v",
         "sha256": "\(String(repeating: "a", count: 64))", "files": ["m"]},
         "inputs": [{"name": "x", "dtype": "float32", "shape": [1, 2], "file": "x.bin"}],
         "accuracy": {"enabled": false},
         "performance": {"enabled": true, "warmup_runs": 0, "runs": 1, "min_seconds": 0, "max_seconds": 1},
         "runtime": {"name": "plain", "profile": true}, "timeout_seconds": 60}
        """.utf8))
        return (try? profile(job: job))?["reason"] as? String
    }
}

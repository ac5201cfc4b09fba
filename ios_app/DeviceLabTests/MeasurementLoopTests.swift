import XCTest
#if canImport(DeviceLabCore)
@testable import DeviceLabCore // the Swift package; the Xcode test bundle compiles Core in
#endif

/// The measurement core with a fake runtime: phase order, counts, the result document and the error path, the
/// same checks as android_app/core's JUnit tests and tests/test_runner.py.
final class MeasurementLoopTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws {
        root = JobFixture.temporaryFolder()
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: root)
    }

    private func runner(_ runtime: FakeRuntime, clock: FakeClock = FakeClock(), memory: FakeMemory = FakeMemory(),
                        progress: ProgressHandler? = nil) -> JobRunner {
        JobRunner(factory: { _ in runtime }, memory: memory, device: ["platform": "ios", "model": "test"],
                  clock: clock, progress: progress)
    }

    func testPhasesRunInRunnerOrder() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, samples: 3, warmup: 2, runs: 4)
        let runtime = FakeRuntime()
        let result = try runner(runtime).run(jobDir: jobDir, resultDir: resultDir)

        XCTAssertTrue(result.ok, result.errorMessage ?? "")
        let expected = ["version", "load", "prepare", "prepare", "prepare",
                        "run", "finish",                      // first inference (sample 0), kept for accuracy
                        "run", "finish", "run", "finish",     // accuracy: the other samples once
                        "run", "release", "run", "release",   // warmups
                        "run", "release", "run", "release", "run", "release", "run", "release", // timed runs
                        "close"]
        XCTAssertEqual(runtime.calls, expected)
        XCTAssertEqual(result.timings.warmup.count, 2)
        XCTAssertEqual(result.timings.runs.count, 4)
        XCTAssertNotNil(result.timings.load)
        XCTAssertNotNil(result.timings.firstInference)
        XCTAssertNotNil(result.timings.accuracyTotal)
        XCTAssertEqual(result.runtimeUsed, "fake-cpu")
        XCTAssertTrue(result.simulated)
    }

    func testEveryTimedRunIsOneClockInterval() throws {
        // The fake clock advances 1 ms per reading and a timed run reads it twice: every run is exactly 1 ms.
        let (jobDir, resultDir) = try JobFixture.make(root: root, warmup: 1, runs: 5)
        let result = try runner(FakeRuntime()).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertEqual(result.timings.runs, [1, 1, 1, 1, 1])
        XCTAssertEqual(result.timings.warmup, [1])
        XCTAssertEqual(result.timings.firstInference, 1)
    }

    func testMinSecondsKeepsRunningPastRuns() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, warmup: 0, runs: 2, minSeconds: 0.02)
        let result = try runner(FakeRuntime()).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertGreaterThan(result.timings.runs.count, 2)
        XCTAssertTrue(result.timings.warmup.isEmpty)
    }

    func testMaxSecondsStopsBeforeRuns() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, warmup: 0, runs: 100_000, maxSeconds: 0.05)
        let result = try runner(FakeRuntime()).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertGreaterThan(result.timings.runs.count, 0)
        XCTAssertLessThan(result.timings.runs.count, 100)
    }

    func testOutputsAreStackedFloat32LittleEndian() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, samples: 3)
        let result = try runner(FakeRuntime()).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertEqual(result.outputs, [TensorSpec(name: "logits", dtype: "float32", shape: [3, 2],
                                                   file: "outputs/output_0.bin")])
        let stacked = try Tensors.read(root: resultDir, spec: result.outputs[0])
        // sample i holds i*10 + k for k in 0..<4: sum = 40i + 6, first = 10i
        XCTAssertEqual(stacked.floats(), [6, 0, 46, 10, 86, 20])
    }

    func testAccuracyOffReleasesFirstOutputAndWritesNoOutputs() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, accuracy: false, warmup: 0, runs: 1)
        let runtime = FakeRuntime()
        let result = try runner(runtime).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertTrue(result.ok)
        XCTAssertFalse(runtime.calls.contains("finish"))
        XCTAssertEqual(Array(runtime.calls.prefix(7)), ["version", "load", "prepare", "prepare", "prepare", "run",
                                                        "release"])
        XCTAssertTrue(result.outputs.isEmpty)
        XCTAssertNil(result.timings.accuracyTotal)
    }

    func testPerformanceOffHasNoRuns() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, performance: false)
        let result = try runner(FakeRuntime()).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertTrue(result.timings.runs.isEmpty)
        XCTAssertTrue(result.timings.warmup.isEmpty)
        XCTAssertEqual(result.outputs.count, 1)
    }

    func testResultDocumentFollowsTheSchema() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, id: "coreml-fp32-0123456789ab")
        try runner(FakeRuntime()).run(jobDir: jobDir, resultDir: resultDir)

        let doc = try JobFixture.readJSON(resultDir.appendingPathComponent("result.json"))
        XCTAssertEqual(Set(doc.keys), ["schema", "job_id", "status", "error", "device", "runtime_used", "timings_ms",
                                       "memory", "outputs", "extra", "simulated"])
        XCTAssertEqual(doc["schema"] as? String, "devicelab.result/1")
        XCTAssertEqual(doc["job_id"] as? String, "coreml-fp32-0123456789ab")
        XCTAssertEqual(doc["status"] as? String, "ok")
        XCTAssertTrue(doc["error"] is NSNull)
        XCTAssertEqual(doc["runtime_used"] as? String, "fake-cpu")
        XCTAssertEqual(doc["simulated"] as? Bool, true)

        let device = try XCTUnwrap(doc["device"] as? [String: Any])
        XCTAssertEqual(device["platform"] as? String, "ios")
        let runtime = try XCTUnwrap(device["runtime"] as? [String: Any])
        XCTAssertEqual(runtime["name"] as? String, "fake")
        XCTAssertEqual(runtime["version"] as? String, "fake 1.0")

        let timings = try XCTUnwrap(doc["timings_ms"] as? [String: Any])
        XCTAssertEqual(Set(timings.keys), ["load", "first_inference", "warmup", "runs", "accuracy_total"])
        XCTAssertEqual((timings["runs"] as? [Double])?.count, 4)
        XCTAssertEqual((timings["warmup"] as? [Double])?.count, 2)

        let memory = try XCTUnwrap(doc["memory"] as? [[String: Any]])
        XCTAssertEqual(memory.map { $0["phase"] as? String }, ["before_load", "after_load", "run", "after_run"])
        for sample in memory {
            XCTAssertEqual(Set(sample.keys), ["metric", "value", "unit", "method", "phase"])
            XCTAssertTrue(["B", "KiB", "MiB"].contains(sample["unit"] as? String ?? ""))
        }

        let outputs = try XCTUnwrap(doc["outputs"] as? [[String: Any]])
        XCTAssertEqual(outputs.count, 1)
        XCTAssertEqual(outputs[0]["file"] as? String, "outputs/output_0.bin")
        XCTAssertEqual(outputs[0]["shape"] as? [Int], [3, 2])

        let extra = try XCTUnwrap(doc["extra"] as? [String: Any])
        XCTAssertEqual(extra["samples"] as? Int, 3)
        XCTAssertEqual(extra["threads"] as? Int, 1)
        XCTAssertEqual(extra["fake_extra"] as? Int, 1)

        let done = try String(contentsOf: resultDir.appendingPathComponent("DONE"), encoding: .utf8)
        XCTAssertEqual(done, "ok\n")
    }

    func testLoadFailureIsAnErrorResultWithDone() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root)
        let runtime = FakeRuntime(failAt: .load)
        let result = try runner(runtime).run(jobDir: jobDir, resultDir: resultDir)

        XCTAssertFalse(result.ok)
        XCTAssertEqual(runtime.calls, ["version", "load", "close"])
        let doc = try JobFixture.readJSON(resultDir.appendingPathComponent("result.json"))
        XCTAssertEqual(doc["status"] as? String, "error")
        let error = try XCTUnwrap(doc["error"] as? [String: Any])
        XCTAssertEqual(error["kind"] as? String, "model_compile")
        XCTAssertEqual(error["message"] as? String, "fake compile failure")
        XCTAssertTrue(doc["runtime_used"] is NSNull)
        let timings = try XCTUnwrap(doc["timings_ms"] as? [String: Any])
        XCTAssertTrue(timings["load"] is NSNull)
        XCTAssertEqual((timings["runs"] as? [Double])?.count, 0)
        XCTAssertEqual((doc["memory"] as? [Any])?.count, 1, "the before_load figure is kept")
        XCTAssertEqual(try String(contentsOf: resultDir.appendingPathComponent("DONE"), encoding: .utf8), "error\n")
    }

    func testFailureMidRunIsRuntimeFailureAndDropsOutputs() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, samples: 3)
        let result = try runner(FakeRuntime(failAt: .run, failOnRun: 6)).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertEqual(result.errorKind, "runtime_failure")
        XCTAssertTrue(result.errorMessage?.hasPrefix("FakeFailure") ?? false, result.errorMessage ?? "")
        XCTAssertTrue(result.outputs.isEmpty)
        XCTAssertFalse(FileManager.default.fileExists(atPath: resultDir.appendingPathComponent("outputs").path),
                       "outputs written before the failure are removed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: resultDir.appendingPathComponent("DONE").path))
    }

    func testMissingJobIsAProtocolErrorNamedAfterTheFolder() throws {
        let jobDir = root.appendingPathComponent("jobs/nothing-here")
        let resultDir = root.appendingPathComponent("results/nothing-here")
        let runtime = FakeRuntime()
        let result = try runner(runtime).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertEqual(result.errorKind, "protocol")
        XCTAssertEqual(result.jobID, "nothing-here")
        XCTAssertTrue(runtime.calls.isEmpty)
        XCTAssertEqual(try String(contentsOf: resultDir.appendingPathComponent("DONE"), encoding: .utf8), "error\n")
    }

    func testTruncatedInputIsAProtocolError() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, samples: 3)
        try Data([0, 0, 128, 63]).write(to: jobDir.appendingPathComponent("inputs/input_0.bin"))
        let result = try runner(FakeRuntime()).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertEqual(result.errorKind, "protocol")
        XCTAssertTrue(result.errorMessage?.contains("holds 4 bytes") ?? false, result.errorMessage ?? "")
    }

    func testOtherSchemaVersionIsRefused() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root) { $0["schema"] = "devicelab.job/2" }
        let result = try runner(FakeRuntime()).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertEqual(result.errorKind, "protocol")
        XCTAssertTrue(result.errorMessage?.contains("devicelab.job/2") ?? false)
    }

    func testPathOutsideTheJobIsRefused() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root) { doc in
            var model = doc["model"] as! [String: Any]
            model["files"] = ["../../escape.mlpackage"]
            doc["model"] = model
        }
        let result = try runner(FakeRuntime()).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertEqual(result.errorKind, "protocol")
    }

    func testStaleResultIsClearedBeforeTheJob() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, performance: false)
        try FileManager.default.createDirectory(at: resultDir.appendingPathComponent("outputs"),
                                                withIntermediateDirectories: true)
        try Data("stale".utf8).write(to: resultDir.appendingPathComponent("outputs/output_7.bin"))
        try Data("ok\n".utf8).write(to: resultDir.appendingPathComponent("DONE"))
        try runner(FakeRuntime()).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertFalse(FileManager.default.fileExists(atPath: resultDir.appendingPathComponent("outputs/output_7.bin").path))
    }

    func testMemoryIsObservedBetweenInferencesAndProgressReachesTotals() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, samples: 3, warmup: 2, runs: 4)
        let memory = FakeMemory()
        var reports: [String: Int] = [:]
        let result = try runner(FakeRuntime(), memory: memory, progress: { phase, done, _ in
            reports[phase] = max(reports[phase] ?? 0, done)
        }).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertTrue(result.ok)
        // after load, first inference, 2 accuracy runs, 2 warmups, 4 timed runs
        XCTAssertEqual(memory.observations, 10)
        XCTAssertEqual(reports["accuracy"], 3)
        XCTAssertEqual(reports["performance"], 4)
        XCTAssertNotNil(reports["load"])
        XCTAssertNotNil(reports["first_inference"])
    }
}

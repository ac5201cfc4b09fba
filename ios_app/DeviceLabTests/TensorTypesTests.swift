import XCTest
#if canImport(DeviceLabCore)
@testable import DeviceLabCore // the Swift package; the Xcode test bundle compiles Core in
#endif

/// Integer and bool tensors end to end (issue 11): files, conversions, stacking, several typed inputs and outputs
/// through the measurement loop, and the cleanup the host asks for after each job.
final class TensorTypesTests: XCTestCase {
    private var root: URL!

    override func setUpWithError() throws { root = JobFixture.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: root) }

    func testInt32AndInt64FilesRoundTripExactly() throws {
        let big: Int64 = (1 << 40) + 1 // not representable in float32
        let ids = try Tensors.write(root: root, relative: "t/ids.bin", name: "input_ids",
                                    tensor: TensorData.int64(shape: [1, 3], values: [big, -3, 0]))
        XCTAssertEqual(ids.dtype, "int64")
        XCTAssertEqual([UInt8](try Data(contentsOf: root.appendingPathComponent("t/ids.bin"))).prefix(8),
                       [0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])
        XCTAssertEqual(try Tensors.read(root: root, spec: ids).integers(), [big, -3, 0])
        let mask = try Tensors.write(root: root, relative: "t/mask.bin", name: "attention_mask",
                                     tensor: TensorData.int32(shape: [3], values: [Int32.min, 1, Int32.max]))
        XCTAssertEqual(try Tensors.read(root: root, spec: mask).integers(), [-2_147_483_648, 1, 2_147_483_647])
    }

    func testConversionsKeepIntegersExactAndSaturate() {
        let ids = TensorData.int64(shape: [4], values: [16_777_217, -5, 3_000_000_000, 0])
        XCTAssertEqual(ids.converted(to: .int32).integers(), [16_777_217, -5, 2_147_483_647, 0])
        XCTAssertEqual(ids.converted(to: .int64), ids)
        XCTAssertEqual(ids.converted(to: .bool).bytes, [1, 1, 1, 0])
        XCTAssertEqual(ids.converted(to: .int8).integers(), [127, -5, 127, 0])
        XCTAssertEqual(ids.converted(to: .uint8).integers(), [255, 0, 255, 0])
        let floats = TensorData.float32(shape: [4], values: [2.5, -1.5, .nan, 7])
        XCTAssertEqual(floats.converted(to: .int64).integers(), [2, -2, 0, 7]) // half to even, as numpy's round
        XCTAssertEqual(floats.converted(to: .float16).floats()[3], 7)
        XCTAssertEqual(TensorData.int32(shape: [2], values: [3, -4]).converted(to: .float32).floats(), [3, -4])
    }

    func testStackKeepsTheOutputDtype() throws {
        let a = TensorData.int64(shape: [1, 2], values: [1 << 33, 2])
        let b = TensorData.int64(shape: [1, 2], values: [3, -4])
        let stacked = try Tensors.stack([a, b])
        XCTAssertEqual(stacked.dtype, .int64)
        XCTAssertEqual(stacked.shape, [2, 2])
        XCTAssertEqual(stacked.integers(), [1 << 33, 2, 3, -4])
        let mixed = try Tensors.stack([TensorData.int32(shape: [1], values: [1]),
                                       TensorData.float32(shape: [1], values: [0.5])])
        XCTAssertEqual(mixed.dtype, .float32)
        XCTAssertEqual(mixed.floats(), [1, 0.5])
    }

    func testSeveralTypedInputsAndOutputsThroughTheLoop() throws {
        let big: Int64 = 50_000_000_000
        let ids = TensorData.int64(shape: [2, 3], values: [big, 7, 9, 1, 2, 3])
        let mask = TensorData.int32(shape: [2, 3], values: [1, 1, 0, 0, 1, 1])
        let flag = TensorData(dtype: .bool, shape: [2, 1], bytes: [1, 0])
        let (jobDir, resultDir) = try JobFixture.make(root: root, id: "typed-job",
                                                      inputs: [("input_ids", ids), ("attention_mask", mask),
                                                               ("flag", flag)])
        let runtime = TypedRuntime()
        let result = try JobRunner(factory: { _ in runtime }, memory: FakeMemory(), device: ["platform": "ios"],
                                   clock: FakeClock(), progress: nil).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertTrue(result.ok, result.errorMessage ?? "")
        XCTAssertTrue(runtime.seenDtypes.allSatisfy { $0 == [.int64, .int32, .bool] })
        XCTAssertEqual(result.outputs.map { $0.name }, ["masked_sum", "kept", "flagged"])
        XCTAssertEqual(result.outputs.map { $0.dtype }, ["int64", "int32", "float32"])
        XCTAssertEqual(result.outputs.map { $0.shape }, [[2], [2, 1], [2, 1]])
        XCTAssertEqual(try Tensors.read(root: resultDir, spec: result.outputs[0]).integers(), [big + 7, 5])
        XCTAssertEqual(try Tensors.read(root: resultDir, spec: result.outputs[1]).integers(), [2, 2])
        XCTAssertEqual(try Tensors.read(root: resultDir, spec: result.outputs[2]).floats(), [1, 0])
        let doc = try JobFixture.readJSON(resultDir.appendingPathComponent("result.json"))
        let outputs = try XCTUnwrap(doc["outputs"] as? [[String: Any]])
        XCTAssertEqual(outputs.map { $0["dtype"] as? String }, ["int64", "int32", "float32"])
    }

    func testInputsWithDifferentSampleCountsAreAProtocolError() throws {
        let (jobDir, resultDir) = try JobFixture.make(
            root: root, id: "uneven", inputs: [("input_ids", TensorData.int64(shape: [2, 1], values: [1, 2])),
                                               ("attention_mask", TensorData.int32(shape: [3, 1], values: [1, 1, 1])),
                                               ("flag", TensorData(dtype: .bool, shape: [2, 1], bytes: [0, 0]))])
        let result = try JobRunner(factory: { _ in TypedRuntime() }, memory: FakeMemory(), device: [:],
                                   clock: FakeClock(), progress: nil).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertEqual(result.errorKind, "protocol")
        XCTAssertTrue(result.errorMessage?.contains("'attention_mask' has 3 samples") ?? false,
                      result.errorMessage ?? "")
    }

    func testCleanupRemovesOnlyThatJobsFolders() throws {
        let (jobDir, resultDir) = try JobFixture.make(root: root, id: "done-job")
        let (otherJob, _) = try JobFixture.make(root: root, id: "other-job")
        try runnerFor(FakeRuntime()).run(jobDir: jobDir, resultDir: resultDir)
        XCTAssertEqual(LaunchRequest.cleanupID(arguments: ["DeviceLab", "--cleanup", "done-job"]), "done-job")
        XCTAssertNil(LaunchRequest.cleanupID(arguments: ["DeviceLab", "--job-id", "done-job"]))
        XCTAssertEqual(Housekeeping.remove(jobID: "done-job", documents: root), ["jobs/done-job", "results/done-job"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: jobDir.path))
        XCTAssertFalse(FileManager.default.fileExists(atPath: resultDir.path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: otherJob.path))
        XCTAssertEqual(Housekeeping.remove(jobID: "..", documents: root), [])
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("jobs").path))
    }

    private func runnerFor(_ runtime: FakeRuntime) -> JobRunner {
        JobRunner(factory: { _ in runtime }, memory: FakeMemory(), device: [:], clock: FakeClock(), progress: nil)
    }
}

import XCTest
#if canImport(DeviceLabCore)
@testable import DeviceLabCore // the Swift package; the Xcode test bundle compiles Core in
#endif

/// Tensors, half floats, strides, job parsing and launch arguments.
final class CoreTests: XCTestCase {
    func testFloat32FilesAreLittleEndian() throws {
        let root = JobFixture.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: root) }
        let spec = try Tensors.write(root: root, relative: "t/x.bin", name: "x",
                                     tensor: TensorData.float32(shape: [2], values: [1, -2]))
        let bytes = [UInt8](try Data(contentsOf: root.appendingPathComponent("t/x.bin")))
        XCTAssertEqual(bytes, [0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0])
        XCTAssertEqual(try Tensors.read(root: root, spec: spec).floats(), [1, -2])
    }

    func testDtypesWidenToFloat() {
        XCTAssertEqual(TensorData(dtype: .int8, shape: [2], bytes: [0xff, 0x05]).floats(), [-1, 5])
        XCTAssertEqual(TensorData(dtype: .uint8, shape: [2], bytes: [0xff, 0x05]).floats(), [255, 5])
        XCTAssertEqual(TensorData(dtype: .int32, shape: [1], bytes: [0xfe, 0xff, 0xff, 0xff]).floats(), [-2])
        XCTAssertEqual(TensorData(dtype: .int64, shape: [1], bytes: [7, 0, 0, 0, 0, 0, 0, 0]).floats(), [7])
        XCTAssertEqual(TensorData(dtype: .float16, shape: [1], bytes: [0x00, 0x3c]).floats(), [1])
    }

    func testHalfConversions() {
        XCTAssertEqual(Half.fromFloat(1), 0x3c00)
        XCTAssertEqual(Half.fromFloat(-2), 0xc000)
        XCTAssertEqual(Half.fromFloat(0.5), 0x3800)
        XCTAssertEqual(Half.fromFloat(65504), 0x7bff)
        XCTAssertEqual(Half.fromFloat(1e6), 0x7c00)            // overflow -> inf
        XCTAssertEqual(Half.fromFloat(5.960464e-8), 0x0001)    // smallest subnormal
        XCTAssertEqual(Half.fromFloat(1 + 1.0 / 2048), 0x3c00) // a tie rounds to even
        for bits: UInt16 in [0x0000, 0x0001, 0x03ff, 0x0400, 0x3555, 0x3c00, 0x7bff, 0xbc00, 0xfbff] {
            XCTAssertEqual(Half.fromFloat(Half.toFloat(bits)), bits, "round trip of \(bits)")
        }
        XCTAssertTrue(Half.toFloat(0x7e00).isNaN)
        XCTAssertEqual(Half.toFloat(0x7c00), .infinity)
    }

    func testSampleAndStack() throws {
        let x = TensorData.float32(shape: [3, 2], values: [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(x.sample(1), TensorData.float32(shape: [1, 2], values: [2, 3]))
        let stacked = try Tensors.stack([x.sample(0), x.sample(2)])
        XCTAssertEqual(stacked.shape, [2, 2])
        XCTAssertEqual(stacked.floats(), [0, 1, 4, 5])
        let scalars = try Tensors.stack([TensorData.float32(shape: [], values: [1]),
                                         TensorData.float32(shape: [], values: [2])])
        XCTAssertEqual(scalars.shape, [2])
        XCTAssertThrowsError(try Tensors.stack([TensorData.float32(shape: [1, 2], values: [0, 0]),
                                                TensorData.float32(shape: [1, 3], values: [0, 0, 0])]))
    }

    func testRowMajorOffsetsHonourPaddedStrides() {
        XCTAssertEqual(Shapes.rowMajorOffsets(shape: [2, 3], strides: [3, 1]), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(Shapes.rowMajorOffsets(shape: [2, 3], strides: [4, 1]), [0, 1, 2, 4, 5, 6])
        XCTAssertEqual(Shapes.rowMajorOffsets(shape: [1, 2, 2], strides: [64, 32, 1]), [0, 1, 32, 33])
        XCTAssertEqual(Shapes.rowMajorOffsets(shape: [], strides: []), [0])
    }

    func testLaunchRequest() {
        XCTAssertEqual(LaunchRequest.jobID(arguments: ["DeviceLab", "--job-id", "abc"], environment: [:]), "abc")
        XCTAssertEqual(LaunchRequest.jobID(arguments: ["DeviceLab", "--job-id=xyz"], environment: [:]), "xyz")
        XCTAssertEqual(LaunchRequest.jobID(arguments: ["DeviceLab"], environment: ["DEVICELAB_JOB_ID": "env"]), "env")
        XCTAssertNil(LaunchRequest.jobID(arguments: ["DeviceLab", "--job-id"], environment: [:]))
    }

    func testJobIDsAndPaths() {
        XCTAssertTrue(JobProtocol.isValidJobID("coreml-fp32-0123456789ab"))
        XCTAssertFalse(JobProtocol.isValidJobID("../x"))
        XCTAssertFalse(JobProtocol.isValidJobID(""))
        XCTAssertFalse(JobProtocol.isValidJobID(".."))
        XCTAssertNil(JobProtocol.relativePathProblem("model/model.mlpackage"))
        XCTAssertNotNil(JobProtocol.relativePathProblem("/etc/passwd"))
        XCTAssertNotNil(JobProtocol.relativePathProblem("a/../../b"))
        XCTAssertNotNil(JobProtocol.relativePathProblem("a\\b"))
    }

    func testJobParsesTheHostsJSON() throws {
        let json = """
        {"schema": "devicelab.job/1", "id": "coreml-int8-1",
         "model": {"format": "coreml", "variant": "coreml-int8", "sha256": "\(String(repeating: "a", count: 64))",
                   "files": ["model/model.mlpackage", "model/model.mlpackage/Manifest.json"]},
         "inputs": [{"name": "input", "dtype": "float32", "shape": [500, 28, 28, 1], "file": "inputs/input_0.bin"}],
         "accuracy": {"enabled": true},
         "performance": {"enabled": true, "warmup_runs": 5, "runs": 50, "min_seconds": 1.0, "max_seconds": 30.0},
         "runtime": {"name": "coreml", "threads": null, "delegate": null, "backend": null, "compute_units": "cpu-ane"},
         "timeout_seconds": 600.0}
        """
        let job = try Job.parse(Data(json.utf8))
        XCTAssertEqual(job.id, "coreml-int8-1")
        XCTAssertEqual(job.model.files[0], "model/model.mlpackage")
        XCTAssertEqual(job.inputs[0].shape, [500, 28, 28, 1])
        XCTAssertEqual(job.performance.warmupRuns, 5)
        XCTAssertEqual(job.performance.maxSeconds, 30)
        XCTAssertEqual(job.runtime.computeUnits, "cpu-ane")
        XCTAssertNil(job.runtime.threads)
    }

    func testJSONWithNonFiniteNumbersStillSerializes() throws {
        let data = try JSON.data(["a": Double.nan, "b": [1.5, Double.infinity], "c": "x"])
        let doc = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        XCTAssertTrue(doc["a"] is NSNull)
        XCTAssertEqual((doc["b"] as? [Any])?.count, 2)
    }
}

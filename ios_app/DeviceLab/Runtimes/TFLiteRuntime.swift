// TensorFlow Lite, the second runtime of the iOS app (job.runtime.name "tflite"; delegates cpu, xnnpack, metal,
// coreml). TensorFlowLiteSwift is distributed through CocoaPods, so this file only compiles when the pod is
// installed (see ios_app/README.md, "TensorFlow Lite"); without it the app answers tflite jobs with a
// "runtime_unavailable" error result.
//
// The interpreter is driven through TensorFlowLiteC (the C API the Swift pod wraps, and depends on) rather than
// the Swift `Interpreter`: its `copy(_:toInputAt:)` returns a fresh `Tensor` holding a copy of the input's bytes on
// every call, so timing it would time an extra copy that no other target makes, and its `Tensor.DataType` has no
// int8. The C calls below are exactly set-input (TfLiteTensorCopyFromBuffer), invoke and read-output
// (TfLiteTensorCopyToBuffer): the timed region of the host, Android and browser targets. The Swift module still
// provides the version and the Metal / Core ML delegates (their `cDelegate` is what the C API takes).
#if canImport(TensorFlowLite) && canImport(TensorFlowLiteC)
import Foundation
import TensorFlowLite
import TensorFlowLiteC

final class TFLiteRuntime: ModelRuntime {
    static let supported = ["cpu", "xnnpack", "metal", "coreml"]

    /// One input or output tensor as the C API describes it, read once after allocation.
    struct Port {
        // TfLiteTensor is a complete C struct: the C API hands out typed pointers (const ones for outputs).
        let tensor: UnsafeMutablePointer<TfLiteTensor>
        let type: TfLiteType
        let shape: [Int]
        let byteSize: Int
        let scale: Float
        let zeroPoint: Int32
        let name: String
    }

    let name = "tflite"
    private let requested: String
    private let threads: Int
    private var model: OpaquePointer?
    private var options: OpaquePointer?
    private var interpreter: OpaquePointer?
    private var xnnpack: UnsafeMutablePointer<TfLiteDelegate>?
    private var delegates: [Delegate] = [] // kept alive as long as the interpreter
    private var label = "tflite-cpu"
    private var note: String?
    private var inputs: [Port] = []
    private var outputs: [Port] = []
    private var resized: [String] = []

    init(job: Job) throws {
        guard job.model.format == "tflite" else {
            throw JobError("protocol", "the tflite runtime runs tflite models, the job has a \(job.model.format) model")
        }
        let wanted = job.runtime.delegate ?? job.runtime.computeUnits ?? "cpu"
        guard TFLiteRuntime.supported.contains(wanted) else {
            throw JobError("unsupported_backend", "the iOS app's TFLite has no delegate '\(wanted)'",
                           hint: "use one of: " + TFLiteRuntime.supported.joined(separator: ", "))
        }
        requested = wanted
        threads = job.runtime.threads ?? 1
    }

    func version() -> String { "tensorflow-lite \(TensorFlowLite.Runtime.version)" }

    func load(modelURL: URL, job: Job) throws {
        guard let loaded = TfLiteModelCreateFromFile(modelURL.path) else {
            throw JobError("model_run", "TFLite (\(version())) could not read \(modelURL.lastPathComponent)",
                           hint: "the file may be corrupt or not a TFLite flatbuffer; the Xcode console shows "
                               + "TFLite's own message")
        }
        model = loaded
        var chosen: [Delegate] = []
        switch requested {
        case "metal":
            #if canImport(TensorFlowLiteCMetal)
            chosen = [MetalDelegate()]
            #else
            note = "metal delegate not in this build (add the Metal subspec)"
            #endif
        case "coreml":
            #if canImport(TensorFlowLiteCCoreML)
            var coreMLOptions = CoreMLDelegate.Options()
            coreMLOptions.enabledDevices = .all // not only devices with a Neural Engine
            if let delegate = CoreMLDelegate(options: coreMLOptions) {
                chosen = [delegate]
            } else {
                note = "coreml delegate could not be created"
            }
            #else
            note = "coreml delegate not in this build (add the CoreML subspec)"
            #endif
        default:
            break
        }
        if !chosen.isEmpty {
            do {
                try makeInterpreter(job: job, delegates: chosen)
                delegates = chosen
                label = "tflite-\(requested)"
            } catch let failure as JobError {
                // As the Android app: a delegate that cannot take the model falls back to the CPU, and says so.
                note = "\(requested) delegate failed: \(failure.message)"
                close(keepModel: true)
            }
        }
        if interpreter == nil {
            try makeInterpreter(job: job, delegates: [])
            label = requested == "xnnpack" ? "tflite-xnnpack" : "tflite-cpu"
        }
    }

    /// Interpreter with `delegates` (or XNNPACK when asked), inputs resized to one sample of the job's data where
    /// the model's shape differs (free dimensions: TFLite stores them as 1), then tensors allocated.
    private func makeInterpreter(job: Job, delegates chosen: [Delegate]) throws {
        let opts = TfLiteInterpreterOptionsCreate()
        options = opts
        TfLiteInterpreterOptionsSetNumThreads(opts, Int32(threads))
        if requested == "xnnpack" && chosen.isEmpty {
            var xnnOptions = TfLiteXNNPackDelegateOptionsDefault()
            xnnOptions.num_threads = Int32(threads)
            xnnpack = TfLiteXNNPackDelegateCreate(&xnnOptions)
            if let xnnpack = xnnpack { TfLiteInterpreterOptionsAddDelegate(opts, xnnpack) }
        }
        for delegate in chosen { TfLiteInterpreterOptionsAddDelegate(opts, delegate.cDelegate) }
        guard let made = TfLiteInterpreterCreate(model, opts) else {
            throw JobError("model_run", "TFLite (\(version())) could not create an interpreter for this model",
                           hint: "the model may use ops newer than this TFLite build; the Xcode console shows "
                               + "TFLite's own message")
        }
        interpreter = made
        let count = Int(TfLiteInterpreterGetInputTensorCount(made))
        guard count == job.inputs.count else {
            throw JobError("model_run", "the job gives \(job.inputs.count) input(s), the model takes \(count)",
                           hint: "the job was built for another model")
        }
        resized = []
        for k in 0..<count {
            guard let tensor = TfLiteInterpreterGetInputTensor(made, Int32(k)) else { continue }
            let current = TFLiteRuntime.shape(tensor)
            let wanted = [1] + job.inputs[k].shape.dropFirst() // one sample per inference
            if current != wanted {
                var dims = wanted.map { Int32($0) }
                guard TfLiteInterpreterResizeInputTensor(made, Int32(k), &dims, Int32(dims.count)) == kTfLiteOk else {
                    throw JobError("model_run", "TFLite cannot resize input \(k) from \(Shapes.format(current)) to "
                                   + "\(Shapes.format(wanted))", hint: "the job was built for another model")
                }
                resized.append("\(job.inputs[k].name): \(Shapes.format(current)) -> \(Shapes.format(wanted))")
            }
        }
        guard TfLiteInterpreterAllocateTensors(made) == kTfLiteOk else {
            throw JobError("model_run", "TFLite could not allocate the model's tensors",
                           hint: "the input shapes may not fit the model; the Xcode console shows TFLite's message")
        }
        inputs = (0..<count).compactMap { k in
            TfLiteInterpreterGetInputTensor(made, Int32(k)).map { TFLiteRuntime.port($0) }
        }
        outputs = (0..<Int(TfLiteInterpreterGetOutputTensorCount(made))).compactMap { k in
            TfLiteInterpreterGetOutputTensor(made, Int32(k)).map {
                TFLiteRuntime.port(UnsafeMutablePointer(mutating: $0))
            }
        }
    }

    func used() -> String { note.map { "\(label) (\($0))" } ?? label }

    /// One sample as the bytes of each input tensor's own dtype (int32 / int64 ids exact, bool, float16,
    /// quantized int8 / uint8 for float data), outside the timed region.
    func prepare(_ sample: [TensorData]) throws -> Any {
        guard sample.count == inputs.count else {
            throw JobError("model_run", "the job gives \(sample.count) input(s), the model takes \(inputs.count)",
                           hint: "the job was built for another model")
        }
        return try zip(sample, inputs).map { x, port -> Data in
            let data = try TFLiteRuntime.encode(x, for: port)
            guard data.count == port.byteSize else {
                throw JobError("model_run", "input '\(port.name)' takes \(port.byteSize) bytes "
                               + "(\(Shapes.format(port.shape))), the job gives \(x.dtype.rawValue)"
                               + "\(Shapes.format(x.shape))", hint: "the job was built for another model")
            }
            return data
        }
    }

    /// Timed: set every input, invoke, read every output. Nothing else.
    func run(_ feed: Any) throws -> Any {
        guard let interpreter = interpreter, let data = feed as? [Data] else {
            throw JobError("runtime_failure", "run before load")
        }
        for (k, bytes) in data.enumerated() {
            let status = bytes.withUnsafeBytes {
                TfLiteTensorCopyFromBuffer(inputs[k].tensor, $0.baseAddress, $0.count)
            }
            guard status == kTfLiteOk else { throw JobError("model_run", "TFLite refused input \(k)") }
        }
        guard TfLiteInterpreterInvoke(interpreter) == kTfLiteOk else {
            throw JobError("model_run", "TFLite failed to run the model", hint: "the Xcode console shows TFLite's "
                           + "own message")
        }
        return try outputs.map { port -> Data in
            var out = Data(count: port.byteSize)
            let status = out.withUnsafeMutableBytes { TfLiteTensorCopyToBuffer(port.tensor, $0.baseAddress, $0.count) }
            guard status == kTfLiteOk else { throw JobError("model_run", "TFLite could not read output \(port.name)") }
            return out
        }
    }

    func finish(_ raw: Any) throws -> [TensorData] {
        guard let data = raw as? [Data] else { throw JobError("runtime_failure", "not a TFLite result") }
        return try zip(data, outputs).map { try TFLiteRuntime.decode([UInt8]($0), port: $1) }
    }

    func outputNames() -> [String] { outputs.map { $0.name } }

    func extra() -> [String: Any] {
        var out: [String: Any] = ["delegate_requested": requested, "threads": threads]
        if let note = note { out["delegate_note"] = note }
        if !resized.isEmpty { out["tflite_resized_inputs"] = resized }
        return out
    }

    /// `deploy --profile`: nothing to ask. TensorFlow Lite's Swift API (and the C API calls this adapter makes)
    /// gives no per-operator times and no per-op delegate placement; TFLite's benchmark_model does, run apart.
    func profile(job: Job) throws -> [String: Any] {
        ComputePlanTable.unavailable("TensorFlow Lite's Swift and C APIs, as this app uses them, give no "
                                     + "per-operator times or delegate placement (TFLite's benchmark_model with "
                                     + "--enable_op_profiling=true does); only whole-inference times are measured")
    }

    func close() { close(keepModel: false) }

    private func close(keepModel: Bool) {
        if let interpreter = interpreter { TfLiteInterpreterDelete(interpreter) }
        if let options = options { TfLiteInterpreterOptionsDelete(options) }
        if let xnnpack = xnnpack { TfLiteXNNPackDelegateDelete(xnnpack) }
        interpreter = nil
        options = nil
        xnnpack = nil
        inputs = []
        outputs = []
        if !keepModel {
            if let model = model { TfLiteModelDelete(model) }
            model = nil
            delegates = []
        }
    }

    // MARK: - tensors <-> bytes (little-endian on every iOS device, as the protocol's files)

    static func shape(_ tensor: UnsafePointer<TfLiteTensor>) -> [Int] {
        (0..<Int(TfLiteTensorNumDims(tensor))).map { Int(TfLiteTensorDim(tensor, Int32($0))) }
    }

    static func port(_ tensor: UnsafeMutablePointer<TfLiteTensor>) -> Port {
        let quant = TfLiteTensorQuantizationParams(tensor)
        return Port(tensor: tensor, type: TfLiteTensorType(tensor), shape: shape(tensor),
                    byteSize: TfLiteTensorByteSize(tensor), scale: quant.scale, zeroPoint: quant.zero_point,
                    name: String(cString: TfLiteTensorName(tensor)))
    }

    /// The protocol dtype of a TFLite type, when the protocol carries it.
    static func dtype(_ type: TfLiteType) -> DType? {
        switch type {
        case kTfLiteFloat32: return .float32
        case kTfLiteFloat16: return .float16
        case kTfLiteInt8: return .int8
        case kTfLiteUInt8: return .uint8
        case kTfLiteInt32: return .int32
        case kTfLiteInt64: return .int64
        case kTfLiteBool: return .bool
        default: return nil
        }
    }

    static func encode(_ x: TensorData, for port: Port) throws -> Data {
        guard let target = dtype(port.type) else {
            throw JobError("model_run", "TFLite input '\(port.name)' has a type the protocol does not carry "
                           + "(TfLiteType \(port.type.rawValue))", hint: "feed the model through another variant")
        }
        // Float data into a quantized int8 / uint8 input is quantized with the tensor's scale and zero point, as
        // the host's runtimes/tflite.py does; integer data is taken as it is.
        if (target == .int8 || target == .uint8) && port.scale != 0 && (x.dtype == .float32 || x.dtype == .float16) {
            let q = x.floats().map {
                TensorData.clampedInteger(Double($0) / Double(port.scale) + Double(port.zeroPoint))
            }
            return Data(TensorData.int64(shape: x.shape, values: q).converted(to: target).bytes)
        }
        return Data(x.converted(to: target).bytes)
    }

    /// Raw output bytes as a tensor: quantized outputs dequantized to float32 (as the host), integer and bool
    /// outputs in their own dtype, float16 widened to float32.
    static func decode(_ bytes: [UInt8], port: Port) throws -> TensorData {
        guard let type = dtype(port.type) else {
            throw JobError("model_run", "TFLite output '\(port.name)' has a type the protocol does not carry "
                           + "(TfLiteType \(port.type.rawValue))")
        }
        let raw = TensorData(dtype: type, shape: port.shape, bytes: bytes)
        switch type {
        case .int8 where port.scale != 0, .uint8 where port.scale != 0:
            return TensorData.float32(shape: port.shape, values: raw.integers().map {
                port.scale * Float($0 - Int64(port.zeroPoint))
            })
        case .float16:
            return raw.converted(to: .float32)
        default:
            return raw
        }
    }
}
#endif

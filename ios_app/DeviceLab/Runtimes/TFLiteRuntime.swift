// TensorFlow Lite through TensorFlowLiteSwift, the second runtime of the iOS app (job.runtime.name "tflite";
// delegates cpu, xnnpack, metal, coreml). TensorFlowLiteSwift is distributed through CocoaPods, so this file only
// compiles when the pod is installed (see ios_app/README.md, "TensorFlow Lite"); without it the app answers tflite
// jobs with a "runtime_unavailable" error result.
#if canImport(TensorFlowLite)
import Foundation
import TensorFlowLite

final class TFLiteRuntime: ModelRuntime {
    static let supported = ["cpu", "xnnpack", "metal", "coreml"]

    let name = "tflite"
    private let requested: String
    private let threads: Int
    private var interpreter: Interpreter?
    private var delegates: [Delegate] = [] // kept alive as long as the interpreter
    private var label = "tflite-cpu"
    private var note: String?
    private var inputTypes: [Tensor.DataType] = []
    private var inputQuant: [QuantizationParameters?] = []
    private var inputCounts: [Int] = []
    private var outputCount = 0
    private var names: [String] = []

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
        var options = Interpreter.Options()
        options.threadCount = threads
        options.isXNNPackEnabled = requested == "xnnpack"
        label = requested == "xnnpack" ? "tflite-xnnpack" : "tflite-cpu"
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
                let made = try Interpreter(modelPath: modelURL.path, options: options, delegates: chosen)
                try made.allocateTensors()
                interpreter = made
                delegates = chosen
                label = "tflite-\(requested)"
            } catch let failure {
                // As the Android app: a delegate that cannot take the model falls back to the CPU, and says so.
                note = "\(requested) delegate failed: \(failure)"
            }
        }
        if interpreter == nil {
            do {
                let made = try Interpreter(modelPath: modelURL.path, options: options)
                try made.allocateTensors()
                interpreter = made
            } catch let failure {
                throw JobError("model_run", "TFLite (\(version())) could not load the model: \(failure)",
                               hint: "the file may be corrupt, or use ops newer than this TFLite build; the Xcode "
                                   + "console shows TFLite's own message")
            }
        }
        try describeTensors()
    }

    private func describeTensors() throws {
        guard let interpreter = interpreter else { return }
        inputTypes = []
        inputQuant = []
        inputCounts = []
        for k in 0..<interpreter.inputTensorCount {
            let tensor: Tensor
            do {
                tensor = try interpreter.input(at: k)
            } catch {
                throw JobError("model_run", "TensorFlowLiteSwift cannot expose input \(k) (\(error)); int8 "
                               + "input tensors are not supported by its Swift API",
                               hint: "run the float-I/O variants (tflite-fp32, -fp16, -dynamic-int8) on iOS")
            }
            inputTypes.append(tensor.dataType)
            inputQuant.append(tensor.quantizationParameters)
            inputCounts.append(tensor.shape.dimensions.reduce(1, *))
        }
        outputCount = interpreter.outputTensorCount
    }

    func used() -> String { note.map { "\(label) (\($0))" } ?? label }

    func prepare(_ sample: [TensorData]) throws -> Any {
        guard sample.count == inputTypes.count else {
            throw JobError("model_run", "the job gives \(sample.count) input(s), the model takes \(inputTypes.count)",
                           hint: "the job was built for another model")
        }
        var feeds: [Data] = []
        for (k, x) in sample.enumerated() {
            if x.count != inputCounts[k] {
                throw JobError("model_run", "input \(k) takes \(inputCounts[k]) values, the job gives "
                               + "\(Shapes.format(x.shape))", hint: "the job was built for another model")
            }
            feeds.append(try TFLiteRuntime.encode(x.floats(), type: inputTypes[k], quant: inputQuant[k]))
        }
        return feeds
    }

    func run(_ feed: Any) throws -> Any {
        guard let interpreter = interpreter, let inputs = feed as? [Data] else {
            throw JobError("runtime_failure", "run before load")
        }
        for (k, data) in inputs.enumerated() {
            try interpreter.copy(data, toInputAt: k)
        }
        try interpreter.invoke()
        return outputCount // outputs stay in the interpreter until the next run; finish reads them
    }

    func finish(_ raw: Any) throws -> [TensorData] {
        guard let interpreter = interpreter else { throw JobError("runtime_failure", "finish before load") }
        var out: [TensorData] = []
        var seen: [String] = []
        for k in 0..<outputCount {
            let tensor = try interpreter.output(at: k)
            seen.append(tensor.name)
            let values = try TFLiteRuntime.decode(tensor)
            out.append(TensorData.float32(shape: tensor.shape.dimensions, values: values))
        }
        names = seen
        return out
    }

    func outputNames() -> [String] { names }

    func extra() -> [String: Any] {
        var out: [String: Any] = ["delegate_requested": requested, "threads": threads]
        if let note = note { out["delegate_note"] = note }
        return out
    }

    func close() {
        interpreter = nil
        delegates = []
    }

    // MARK: - float32 <-> tensor bytes (native order, little-endian on every iOS device)

    static func encode(_ values: [Float], type: Tensor.DataType, quant: QuantizationParameters?) throws -> Data {
        switch type {
        case .float32:
            return values.withUnsafeBufferPointer { Data(buffer: $0) }
        case .float16:
            return values.map { Half.fromFloat($0) }.withUnsafeBufferPointer { Data(buffer: $0) }
        case .float64:
            return values.map { Double($0) }.withUnsafeBufferPointer { Data(buffer: $0) }
        case .uInt8:
            let q = values.map { v -> UInt8 in
                let scaled = quant.map { Double(v) / Double($0.scale) + Double($0.zeroPoint) } ?? Double(v)
                return UInt8(max(0, min(255, scaled.rounded())))
            }
            return Data(q)
        case .bool:
            return Data(values.map { $0 != 0 ? UInt8(1) : UInt8(0) })
        case .int16:
            return values.map { Int16(max(-32768, min(32767, Double($0).rounded()))) }
                .withUnsafeBufferPointer { Data(buffer: $0) }
        case .int32:
            return values.map { Int32(max(-2_147_483_648, min(2_147_483_647, Double($0).rounded()))) }
                .withUnsafeBufferPointer { Data(buffer: $0) }
        case .int64:
            return values.map { Int64(max(-9.2e18, min(9.2e18, Double($0).rounded()))) }
                .withUnsafeBufferPointer { Data(buffer: $0) }
        default:
            throw JobError("model_run", "TFLite input type \(type) is not supported by the iOS app",
                           hint: "run a float-I/O variant")
        }
    }

    static func decode(_ tensor: Tensor) throws -> [Float] {
        let b = [UInt8](tensor.data)
        switch tensor.dataType {
        case .float32:
            return (0..<(b.count / 4)).map { Float(bitPattern: LE.u32(b, $0 * 4)) }
        case .float16:
            return (0..<(b.count / 2)).map { Half.toFloat(LE.u16(b, $0 * 2)) }
        case .float64:
            return (0..<(b.count / 8)).map { Float(Double(bitPattern: LE.u64(b, $0 * 8))) }
        case .uInt8:
            if let q = tensor.quantizationParameters {
                return b.map { q.scale * Float(Int($0) - q.zeroPoint) }
            }
            return b.map { Float($0) }
        case .bool:
            return b.map { Float($0) }
        case .int16:
            return (0..<(b.count / 2)).map { Float(Int16(bitPattern: LE.u16(b, $0 * 2))) }
        case .int32:
            return (0..<(b.count / 4)).map { Float(Int32(bitPattern: LE.u32(b, $0 * 4))) }
        case .int64:
            return (0..<(b.count / 8)).map { Float(Int64(bitPattern: LE.u64(b, $0 * 8))) }
        default:
            throw JobError("model_run", "TFLite output type \(tensor.dataType) is not supported by the iOS app")
        }
    }
}
#endif

import CoreML
import Foundation

/// Core ML: the pushed .mlpackage is compiled ON THE DEVICE (`MLModel.compileModel(at:)`), then loaded with the
/// compute units the job asks for. Compute units are a request: Core ML decides per layer what really runs and
/// reports nothing while running, so runtime_used says what was requested and that Core ML decided. With
/// `deploy --profile` on iOS 17.4+, MLComputePlan says afterwards which device Core ML prefers for each op
/// (result extra.profile).
final class CoreMLRuntime: ModelRuntime {
    /// job.runtime.compute_units (or delegate) -> MLComputeUnits, as devicelab/runtimes/coreml.py.
    static let computeUnits: [String: MLComputeUnits] = [
        "cpu": .cpuOnly, "cpu-gpu": .cpuAndGPU, "all": .all, "cpu-ane": .cpuAndNeuralEngine, // the last: iOS 16+
    ]

    let name = "coreml"
    private let units: String
    private let clock = MonotonicClock()
    private var model: MLModel?
    private var compiledURL: URL?
    private var inputNames: [String] = []
    private var inputTypes: [MLMultiArrayDataType] = []
    private var inputShapes: [[Int]] = []
    private var names: [String] = []
    private var compileMs: Double?
    private var initMs: Double?

    init(job: Job) throws {
        guard job.model.format == "coreml" else {
            throw JobError("protocol", "the coreml runtime runs coreml models, the job has a \(job.model.format) model")
        }
        let requested = job.runtime.computeUnits ?? job.runtime.delegate ?? "all"
        guard CoreMLRuntime.computeUnits[requested] != nil else {
            throw JobError("unsupported_backend", "Core ML has no compute units '\(requested)'",
                           hint: "use one of: all, cpu, cpu-gpu, cpu-ane")
        }
        units = requested
    }

    func version() -> String { "iOS \(DeviceInfo.osVersion)" } // Core ML ships with the OS

    func load(modelURL: URL, job: Job) throws {
        let started = clock.nanoTime()
        let compiled: URL
        do {
            // The synchronous variant (the async one needs an async context; this loop is synchronous on purpose).
            compiled = try MLModel.compileModel(at: URL(fileURLWithPath: modelURL.path)) // a folder URL for .mlpackage
        } catch {
            throw JobError("model_compile", "Core ML could not compile \(modelURL.lastPathComponent) on this device: "
                           + CoreMLRuntime.describe(error),
                           hint: "the model may need a newer iOS than this device runs (its minimum deployment "
                               + "target), or the .mlpackage folder was not copied whole")
        }
        compiledURL = compiled
        let compiledAt = clock.nanoTime()

        let configuration = CoreMLRuntime.configuration(units)
        let loaded: MLModel
        do {
            loaded = try MLModel(contentsOf: compiled, configuration: configuration)
        } catch {
            throw JobError("model_run", "Core ML could not load the compiled model (compute units \(units)): "
                           + CoreMLRuntime.describe(error))
        }
        let loadedAt = clock.nanoTime()
        compileMs = Timings.ms(from: started, to: compiledAt)
        initMs = Timings.ms(from: compiledAt, to: loadedAt)
        model = loaded
        try mapInputs(loaded.modelDescription, job: job)
        // Output order: MLModelDescription only gives a dictionary, so outputs are taken in name order.
        names = loaded.modelDescription.outputDescriptionsByName.keys.sorted()
    }

    /// Job inputs -> model inputs: by name when every job input name is a model input, else in name order when
    /// the counts agree (one input: the model's only input, whatever the converter called it).
    private func mapInputs(_ description: MLModelDescription, job: Job) throws {
        let byName = description.inputDescriptionsByName
        let jobNames = job.inputs.map { $0.name }
        let chosen: [String]
        if jobNames.allSatisfy({ byName[$0] != nil }) {
            chosen = jobNames
        } else if byName.count == jobNames.count {
            chosen = byName.keys.sorted()
        } else {
            throw JobError("model_run", "the job gives \(jobNames.count) input(s) \(jobNames), the model takes "
                           + "\(byName.keys.sorted())", hint: "the job was built for another model")
        }
        inputNames = chosen
        inputTypes = []
        inputShapes = []
        for name in chosen {
            guard let constraint = byName[name]?.multiArrayConstraint else {
                throw JobError("model_run", "Core ML input '\(name)' is not a multi-array; devicelab feeds tensors",
                               hint: "convert with ct.TensorType inputs (devicelab's Core ML converter does)")
            }
            inputTypes.append(constraint.dataType)
            inputShapes.append(constraint.shape.map { $0.intValue })
        }
    }

    func used() -> String { "coreml (\(units) requested; Core ML decides per layer)" }

    func prepare(_ sample: [TensorData]) throws -> Any {
        var features: [String: Any] = [:]
        for (k, x) in sample.enumerated() {
            // The model's own shape when it holds the same element count (e.g. [1, 28, 28, 1]); otherwise the
            // sample's shape, and Core ML says whether it accepts it (flexible shapes).
            let modelShape = inputShapes[k]
            let shape = !modelShape.isEmpty && Shapes.elementCount(modelShape) == x.count ? modelShape : x.shape
            let array = try MLMultiArray(shape: shape.map { NSNumber(value: $0) },
                                         dataType: CoreMLRuntime.feedType(inputTypes[k]))
            CoreMLRuntime.fill(array, with: x) // in the array's own data type: int32 ids stay exact
            features[inputNames[k]] = MLFeatureValue(multiArray: array)
        }
        return try MLDictionaryFeatureProvider(dictionary: features)
    }

    func run(_ feed: Any) throws -> Any {
        guard let model = model, let provider = feed as? MLFeatureProvider else {
            throw JobError("runtime_failure", "run before load")
        }
        return try model.prediction(from: provider)
    }

    func finish(_ raw: Any) throws -> [TensorData] {
        guard let provider = raw as? MLFeatureProvider else { throw JobError("runtime_failure", "not a prediction") }
        return try names.map { name in
            guard let array = provider.featureValue(for: name)?.multiArrayValue else {
                throw JobError("model_run", "Core ML output '\(name)' is not a multi-array")
            }
            return CoreMLRuntime.tensor(array)
        }
    }

    func outputNames() -> [String] { names }

    /// The model configuration of a job: also what the compute plan is made with, so it plans what ran.
    static func configuration(_ units: String) -> MLModelConfiguration {
        let configuration = MLModelConfiguration()
        configuration.computeUnits = computeUnits[units] ?? .all
        return configuration
    }

    // MARK: - deploy --profile: MLComputePlan (iOS 17.4+)

    /// Seconds the compute plan may take (Core ML plans the compiled model again); bounded so the host's job
    /// timeout never ends a job whose measurement is done.
    static let planTimeoutSeconds = 60.0

    /// Each operation's preferred and supported compute devices and estimated cost, as Core ML plans them for the
    /// compiled model with the job's compute units. Called after every timed phase; untimed. Estimated, not
    /// measured: Core ML gives no per-op times.
    func profile(job: Job) throws -> [String: Any] {
        guard #available(iOS 17.4, *) else {
            return ComputePlanTable.unavailable("Core ML's MLComputePlan (each op's preferred device and estimated "
                                                + "cost) needs iOS 17.4 or newer; this device runs iOS "
                                                + DeviceInfo.osVersion)
        }
        guard let compiled = compiledURL else { throw JobError("runtime_failure", "no compiled model to plan") }
        guard let requested = ComputePlanTable.requestedDevice(computeUnits: units) else {
            throw JobError("unsupported_backend", "no compute device is known for compute units '\(units)'")
        }
        let plan = try CoreMLRuntime.loadPlan(compiled, units: units,
                                              timeoutSeconds: min(CoreMLRuntime.planTimeoutSeconds,
                                                                  job.timeoutSeconds / 10))
        return ComputePlanTable.make(try CoreMLRuntime.plannedOperations(plan), requested: requested)
    }

    /// `MLComputePlan.load` is async only; the measuring thread is a plain dispatch queue, so it waits here for a
    /// detached task (which never runs on this queue, so this cannot deadlock).
    @available(iOS 17.4, *)
    static func loadPlan(_ compiled: URL, units: String, timeoutSeconds: Double) throws -> MLComputePlan {
        let box = PlanBox()
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            do {
                box.plan = try await MLComputePlan.load(contentsOf: compiled, configuration: CoreMLRuntime.configuration(units))
            } catch {
                box.error = error
            }
            done.signal()
        }
        if done.wait(timeout: .now() + timeoutSeconds) == .timedOut {
            throw JobError("timeout", "MLComputePlan.load did not answer within \(Int(timeoutSeconds)) s")
        }
        if let error = box.error { throw JobError("model_run", "MLComputePlan.load failed: " + describe(error)) }
        guard let plan = box.plan as? MLComputePlan else { throw JobError("runtime_failure", "MLComputePlan.load returned nothing") }
        return plan
    }

    /// Every operation of the plan's model: an ML Program's `main` function (nested blocks of control-flow ops
    /// included), a NeuralNetwork's layers, or each sub-model of a pipeline (names prefixed with its name).
    @available(iOS 17.4, *)
    static func plannedOperations(_ plan: MLComputePlan) throws -> [PlannedOperation] {
        try operations(in: plan.modelStructure, plan: plan, prefix: "")
    }

    @available(iOS 17.4, *)
    private static func operations(in structure: MLModelStructure, plan: MLComputePlan,
                                   prefix: String) throws -> [PlannedOperation] {
        switch structure {
        case .program(let program):
            guard let main = program.functions["main"] else {
                throw JobError("model_run", "the ML Program has no 'main' function (it has "
                               + "\(program.functions.keys.sorted()))")
            }
            var found: [PlannedOperation] = []
            walk(main.block, plan: plan, prefix: prefix, into: &found)
            return found
        case .neuralNetwork(let network):
            return network.layers.map { layer in
                let usage = plan.deviceUsage(for: layer)
                return PlannedOperation(name: prefix + layer.name, opType: layer.type,
                                        preferred: usage.map { deviceName($0.preferred) },
                                        supported: usage.map { $0.supported.map(deviceName) } ?? [],
                                        costWeight: nil) // Core ML estimates costs of ML Program ops only
            }
        case .pipeline(let pipeline):
            var found: [PlannedOperation] = []
            for (k, sub) in pipeline.subModels.enumerated() {
                let name = k < pipeline.subModelNames.count ? pipeline.subModelNames[k] : "model_\(k)"
                found += try operations(in: sub, plan: plan, prefix: prefix + name + "/")
            }
            return found
        case .unsupported:
            throw JobError("model_run", "MLComputePlan does not describe this kind of model (neither an ML Program "
                           + "nor a NeuralNetwork)")
        @unknown default:
            throw JobError("model_run", "MLComputePlan describes this model with a structure this app does not know")
        }
    }

    /// An ML Program op has no name of its own: its first output's name (what coremltools derives from the source
    /// layer) names it, else its operator.
    @available(iOS 17.4, *)
    private static func walk(_ block: MLModelStructure.Program.Block, plan: MLComputePlan, prefix: String,
                             into found: inout [PlannedOperation]) {
        for operation in block.operations {
            let usage = plan.deviceUsage(for: operation)
            found.append(PlannedOperation(name: prefix + (operation.outputs.first?.name ?? operation.operatorName),
                                          opType: operation.operatorName,
                                          preferred: usage.map { deviceName($0.preferred) },
                                          supported: usage.map { $0.supported.map(deviceName) } ?? [],
                                          costWeight: plan.estimatedCost(of: operation)?.weight))
            for nested in operation.blocks {
                walk(nested, plan: plan, prefix: prefix, into: &found)
            }
        }
    }

    /// Compute devices as the host names providers.
    @available(iOS 17.4, *)
    static func deviceName(_ device: MLComputeDevice) -> String {
        switch device {
        case .cpu: return "cpu"
        case .gpu: return "gpu"
        case .neuralEngine: return "neural-engine"
        @unknown default: return "unknown"
        }
    }

    func extra() -> [String: Any] {
        var out: [String: Any] = ["compute_units_requested": units]
        if let compileMs = compileMs { out["compile_ms"] = compileMs }
        if let initMs = initMs { out["model_init_ms"] = initMs }
        if !inputNames.isEmpty {
            out["coreml_inputs"] = zip(inputNames, inputTypes).map { "\($0.0): \(CoreMLRuntime.typeName($0.1))" }
        }
        if !names.isEmpty { out["coreml_outputs"] = names }
        return out
    }

    func close() {
        model = nil
        if let compiled = compiledURL {
            try? FileManager.default.removeItem(at: compiled) // compileModel writes into a temporary folder
        }
    }

    // MARK: - MLMultiArray <-> float32

    /// What a model input is fed as: its own dtype when Core ML has one we write, else float32.
    static func feedType(_ modelType: MLMultiArrayDataType) -> MLMultiArrayDataType {
        switch modelType {
        case .float16: return .float16
        case .double: return .double
        case .int32: return .int32
        default: return .float32
        }
    }

    static func typeName(_ type: MLMultiArrayDataType) -> String {
        switch type {
        case .float16: return "float16"
        case .float32: return "float32"
        case .double: return "float64"
        case .int32: return "int32"
        default: return "dtype \(type.rawValue)"
        }
    }

    /// Writes `tensor` (row-major, any protocol dtype) into `array`, converted to the array's data type with the
    /// core's exact conversions (int64 token ids -> int32 without a float round trip), honouring its strides.
    static func fill(_ array: MLMultiArray, with tensor: TensorData) {
        let shape = array.shape.map { $0.intValue }
        let type = array.dataType
        // Core ML's int32 inputs take what coremltools made of int64 / int8 / bool inputs.
        let integers = type == .int32 ? tensor.integers() : []
        let floats = type == .int32 || type == .double ? [] : tensor.converted(to: .float32).floats()
        let doubles = type == .double ? (tensor.dtype == .int64 || tensor.dtype == .int32
                                         ? tensor.integers().map { Double($0) } : tensor.floats().map { Double($0) })
                                      : []
        array.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer, strides: [Int]) -> Void in
            let offsets = Shapes.rowMajorOffsets(shape: shape, strides: strides)
            switch type {
            case .float16:
                for (i, o) in offsets.enumerated() {
                    raw.storeBytes(of: Half.fromFloat(floats[i]), toByteOffset: o * 2, as: UInt16.self)
                }
            case .double:
                for (i, o) in offsets.enumerated() {
                    raw.storeBytes(of: doubles[i], toByteOffset: o * 8, as: Double.self)
                }
            case .int32:
                for (i, o) in offsets.enumerated() {
                    raw.storeBytes(of: Int32(clamping: integers[i]), toByteOffset: o * 4, as: Int32.self)
                }
            default:
                for (i, o) in offsets.enumerated() {
                    raw.storeBytes(of: floats[i], toByteOffset: o * 4, as: Float.self)
                }
            }
        }
    }

    /// An output array as a tensor: int32 outputs stay int32 (ids, argmax), floating ones become float32.
    static func tensor(_ array: MLMultiArray) -> TensorData {
        let shape = array.shape.map { $0.intValue }
        if array.dataType == .int32 {
            let offsets = Shapes.rowMajorOffsets(shape: shape, strides: array.strides.map { $0.intValue })
            let values = array.withUnsafeBytes { raw in
                offsets.map { raw.load(fromByteOffset: $0 * 4, as: Int32.self) }
            }
            return TensorData.int32(shape: shape, values: values)
        }
        return TensorData.float32(shape: shape, values: floats(array))
    }

    /// Every element of `array` in row-major order as float32, honouring its strides (outputs may be padded).
    static func floats(_ array: MLMultiArray) -> [Float] {
        let shape = array.shape.map { $0.intValue }
        let offsets = Shapes.rowMajorOffsets(shape: shape, strides: array.strides.map { $0.intValue })
        let type = array.dataType
        return array.withUnsafeBytes { raw -> [Float] in
            switch type {
            case .float16:
                return offsets.map { Half.toFloat(raw.load(fromByteOffset: $0 * 2, as: UInt16.self)) }
            case .double:
                return offsets.map { Float(raw.load(fromByteOffset: $0 * 8, as: Double.self)) }
            case .int32:
                return offsets.map { Float(raw.load(fromByteOffset: $0 * 4, as: Int32.self)) }
            default:
                return offsets.map { raw.load(fromByteOffset: $0 * 4, as: Float.self) }
            }
        }
    }

    static func describe(_ error: Error) -> String {
        let ns = error as NSError
        var text = ns.localizedDescription
        if let reason = ns.localizedFailureReason, !text.contains(reason) { text += " (\(reason))" }
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError {
            text += "; \(underlying.localizedDescription)"
        }
        return Messages.oneLine(text, limit: 800)
    }
}

/// Carries MLComputePlan.load's answer out of its task; the semaphore orders the write before the read.
private final class PlanBox: @unchecked Sendable {
    var plan: Any? // an MLComputePlan; typed Any because that class exists from iOS 17.4 only
    var error: Error?
}

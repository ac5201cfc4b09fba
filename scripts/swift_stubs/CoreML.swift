// What ios_app/DeviceLab/Runtimes/CoreMLRuntime.swift uses of Apple's Core ML, declared with the published
// signatures (iOS 16 SDK; MLComputePlan and MLModelStructure, iOS 17.4: at the end) so `make ios-core` can
// typecheck that adapter on Linux. Declarations only: nothing here runs, and Core ML itself exists only on Apple
// platforms.
import Foundation

public enum MLComputeUnits: Int {
    case cpuOnly = 0, cpuAndGPU = 1, all = 2, cpuAndNeuralEngine = 3
}

public enum MLMultiArrayDataType: Int {
    case double = 65600, float32 = 65568, float16 = 65552, int32 = 131104
    public static var float64: MLMultiArrayDataType { .double }
    public static var float: MLMultiArrayDataType { .float32 }
}

open class MLModelConfiguration: NSObject {
    open var computeUnits: MLComputeUnits = .all
}

open class MLMultiArrayConstraint: NSObject {
    open var shape: [NSNumber] { fatalError("declaration only") }
    open var dataType: MLMultiArrayDataType { fatalError("declaration only") }
}

open class MLFeatureDescription: NSObject {
    open var multiArrayConstraint: MLMultiArrayConstraint? { fatalError("declaration only") }
}

open class MLModelDescription: NSObject {
    open var inputDescriptionsByName: [String: MLFeatureDescription] { fatalError("declaration only") }
    open var outputDescriptionsByName: [String: MLFeatureDescription] { fatalError("declaration only") }
}

open class MLMultiArray: NSObject {
    public init(shape: [NSNumber], dataType: MLMultiArrayDataType) throws { fatalError("declaration only") }
    open var shape: [NSNumber] { fatalError("declaration only") }
    open var strides: [NSNumber] { fatalError("declaration only") }
    open var dataType: MLMultiArrayDataType { fatalError("declaration only") }
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        fatalError("declaration only")
    }
    public func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer, [Int]) throws -> R) rethrows -> R {
        fatalError("declaration only")
    }
}

open class MLFeatureValue: NSObject {
    public init(multiArray: MLMultiArray) { fatalError("declaration only") }
    open var multiArrayValue: MLMultiArray? { fatalError("declaration only") }
}

public protocol MLFeatureProvider {
    var featureNames: Set<String> { get }
    func featureValue(for featureName: String) -> MLFeatureValue?
}

open class MLDictionaryFeatureProvider: NSObject, MLFeatureProvider {
    public init(dictionary: [String: Any]) throws { fatalError("declaration only") }
    open var featureNames: Set<String> { fatalError("declaration only") }
    open func featureValue(for featureName: String) -> MLFeatureValue? { fatalError("declaration only") }
}

open class MLModel: NSObject {
    public init(contentsOf url: URL, configuration: MLModelConfiguration) throws { fatalError("declaration only") }
    open var modelDescription: MLModelDescription { fatalError("declaration only") }
    open class func compileModel(at modelURL: URL) throws -> URL { fatalError("declaration only") }
    open func prediction(from input: MLFeatureProvider) throws -> MLFeatureProvider { fatalError("declaration only") }
}

// MARK: - MLComputePlan (deploy --profile), iOS 17.4+ / macOS 14.4+
// Swift declarations as Apple documents them (developer.apple.com/documentation/coreml/mlcomputeplan-1w21n and
// its children; /documentation/coreml/mlmodelstructure-swift.enum and children; /documentation/coreml/
// mlcomputedevice), i.e. the Swift overlay, not the Objective-C MLComputePlan class (NS_REFINED_FOR_SWIFT,
// header MLComputePlan.h in the iPhoneOS 18 SDK). Apple declares the struct members as `let`; they are read-only
// computed properties here because nothing here is ever made. Only what CoreMLRuntime.swift reads is declared.

/// `enum MLComputeDevice` (iOS 17.0+): `case cpu(MLCPUComputeDevice)`, `case gpu(MLGPUComputeDevice)`,
/// `case neuralEngine(MLNeuralEngineComputeDevice)`.
@available(iOS 17.0, macOS 14.0, *)
public enum MLComputeDevice {
    case cpu(MLCPUComputeDevice)
    case gpu(MLGPUComputeDevice)
    case neuralEngine(MLNeuralEngineComputeDevice)
}

/// `class MLCPUComputeDevice` / `MLGPUComputeDevice` / `MLNeuralEngineComputeDevice` (iOS 17.0+, NSObject
/// subclasses conforming to MLComputeDeviceProtocol).
@available(iOS 17.0, macOS 14.0, *)
open class MLCPUComputeDevice: NSObject {}
@available(iOS 17.0, macOS 14.0, *)
open class MLGPUComputeDevice: NSObject {}
@available(iOS 17.0, macOS 14.0, *)
open class MLNeuralEngineComputeDevice: NSObject {}

/// `enum MLModelStructure` (iOS 17.4+): `case neuralNetwork(MLModelStructure.NeuralNetwork)`,
/// `case program(MLModelStructure.Program)`, `case pipeline(MLModelStructure.Pipeline)`, `case unsupported`.
@available(iOS 17.4, macOS 14.4, *)
public enum MLModelStructure {
    case neuralNetwork(MLModelStructure.NeuralNetwork)
    case program(MLModelStructure.Program)
    case pipeline(MLModelStructure.Pipeline)
    case unsupported

    /// `struct NeuralNetwork { let layers: [MLModelStructure.NeuralNetwork.Layer] }`
    public struct NeuralNetwork {
        public var layers: [MLModelStructure.NeuralNetwork.Layer] { fatalError("declaration only") }

        /// `struct Layer { let name: String; let type: String; let inputNames: [String]; let outputNames: [String] }`
        public struct Layer {
            public var name: String { fatalError("declaration only") }
            public var type: String { fatalError("declaration only") }
            public var inputNames: [String] { fatalError("declaration only") }
            public var outputNames: [String] { fatalError("declaration only") }
        }
    }

    /// `struct Program { let functions: [String : MLModelStructure.Program.Function] }`
    public struct Program {
        public var functions: [String: MLModelStructure.Program.Function] { fatalError("declaration only") }

        /// `struct Function { let block: MLModelStructure.Program.Block; let inputs: [...NamedValueType] }`
        public struct Function {
            public var block: MLModelStructure.Program.Block { fatalError("declaration only") }
            public var inputs: [MLModelStructure.Program.NamedValueType] { fatalError("declaration only") }
        }

        /// `struct Block { let inputs: [NamedValueType]; let operations: [Operation]; let outputNames: [String] }`
        public struct Block {
            public var inputs: [MLModelStructure.Program.NamedValueType] { fatalError("declaration only") }
            public var operations: [MLModelStructure.Program.Operation] { fatalError("declaration only") }
            public var outputNames: [String] { fatalError("declaration only") }
        }

        /// `struct Operation { let operatorName: String; let blocks: [Block]; let outputs: [NamedValueType];
        /// let inputs: [String : Argument] }` (inputs not declared here: not read)
        public struct Operation {
            public var operatorName: String { fatalError("declaration only") }
            public var blocks: [MLModelStructure.Program.Block] { fatalError("declaration only") }
            public var outputs: [MLModelStructure.Program.NamedValueType] { fatalError("declaration only") }
        }

        /// `struct NamedValueType { let name: String; let type: ValueType }` (type not declared here: not read)
        public struct NamedValueType {
            public var name: String { fatalError("declaration only") }
        }
    }

    /// `struct Pipeline { let subModelNames: [String]; let subModels: [MLModelStructure] }`
    public struct Pipeline {
        public var subModelNames: [String] { fatalError("declaration only") }
        public var subModels: [MLModelStructure] { fatalError("declaration only") }
    }
}

/// `class MLComputePlan` (iOS 17.4+), the Swift class.
@available(iOS 17.4, macOS 14.4, *)
public final class MLComputePlan {
    /// `static func load(contentsOf url: URL, configuration: MLModelConfiguration) async throws -> MLComputePlan`
    /// (url: the compiled .mlmodelc).
    public static func load(contentsOf url: URL, configuration: MLModelConfiguration) async throws -> MLComputePlan {
        fatalError("declaration only")
    }

    /// `final let modelStructure: MLModelStructure`
    public var modelStructure: MLModelStructure { fatalError("declaration only") }

    /// `func deviceUsage(for layer: MLModelStructure.NeuralNetwork.Layer) -> MLComputePlan.DeviceUsage?`
    public func deviceUsage(for layer: MLModelStructure.NeuralNetwork.Layer) -> MLComputePlan.DeviceUsage? {
        fatalError("declaration only")
    }

    /// `func deviceUsage(for operation: MLModelStructure.Program.Operation) -> MLComputePlan.DeviceUsage?`
    public func deviceUsage(for operation: MLModelStructure.Program.Operation) -> MLComputePlan.DeviceUsage? {
        fatalError("declaration only")
    }

    /// `func estimatedCost(of operation: MLModelStructure.Program.Operation) -> MLComputePlan.Cost?`
    public func estimatedCost(of operation: MLModelStructure.Program.Operation) -> MLComputePlan.Cost? {
        fatalError("declaration only")
    }

    /// `struct DeviceUsage { let preferred: MLComputeDevice; let supported: [MLComputeDevice] }`
    public struct DeviceUsage {
        public var preferred: MLComputeDevice { fatalError("declaration only") }
        public var supported: [MLComputeDevice] { fatalError("declaration only") }
    }

    /// `struct Cost { let weight: Double }`: the op's share of the whole model's estimated cost.
    public struct Cost {
        public var weight: Double { fatalError("declaration only") }
    }
}

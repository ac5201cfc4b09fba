// What ios_app/DeviceLab/Runtimes/CoreMLRuntime.swift uses of Apple's Core ML, declared with the published
// signatures (iOS 16 SDK) so `make ios-core` can typecheck that adapter on Linux. Declarations only: nothing here
// runs, and Core ML itself exists only on Apple platforms.
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

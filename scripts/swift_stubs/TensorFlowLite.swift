// What ios_app/DeviceLab/Runtimes/TFLiteRuntime.swift takes from TensorFlowLiteSwift (module TensorFlowLite),
// declared as the pod publishes it, for the typecheck in `make ios-core`. Not an implementation.
import TensorFlowLiteC

public enum Runtime {
    public static var version: String { fatalError("declaration only") }
}

public protocol Delegate: AnyObject {
    typealias CDelegate = UnsafeMutablePointer<TfLiteDelegate>
    var cDelegate: CDelegate { get }
}

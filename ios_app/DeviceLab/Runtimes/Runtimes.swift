import Foundation

/// job.runtime.name -> the runtime adapter that runs it in this app.
enum Runtimes {
    static var available: [String] {
        #if canImport(TensorFlowLite)
        return ["coreml", "tflite"]
        #else
        return ["coreml"]
        #endif
    }

    static func make(_ job: Job) throws -> ModelRuntime {
        switch job.runtime.name {
        case "coreml":
            return try CoreMLRuntime(job: job)
        case "tflite":
            #if canImport(TensorFlowLite)
            return try TFLiteRuntime(job: job)
            #else
            throw JobError("runtime_unavailable", "this build of the DeviceLab app has no TensorFlow Lite",
                           hint: "add the TensorFlowLiteSwift pod (ios_app/README.md, \"TensorFlow Lite\"), rebuild "
                               + "and reinstall the app")
            #endif
        default:
            throw JobError("unknown_runtime", "the iOS app has no runtime '\(job.runtime.name)'",
                           hint: "use one of: " + available.joined(separator: ", "))
        }
    }
}

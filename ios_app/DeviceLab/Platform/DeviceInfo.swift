import Foundation
import UIKit

/// result.device for this phone or simulator (device.runtime is added by the measurement loop).
enum DeviceInfo {
    /// The hardware identifier, e.g. "iPhone15,2". On a simulator uname says the Mac's CPU ("arm64"), so the
    /// simulated model comes from SIMULATOR_MODEL_IDENTIFIER.
    static func machine() -> String {
        #if targetEnvironment(simulator)
        if let simulated = ProcessInfo.processInfo.environment["SIMULATOR_MODEL_IDENTIFIER"], !simulated.isEmpty {
            return simulated
        }
        #endif
        var system = utsname()
        uname(&system)
        return withUnsafeBytes(of: &system.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
    }

    static var isSimulator: Bool {
        #if targetEnvironment(simulator)
        return true
        #else
        return false
        #endif
    }

    static var cpuArchitecture: String {
        #if arch(arm64)
        return "arm64"
        #elseif arch(x86_64)
        return "x86_64"
        #else
        return "unknown"
        #endif
    }

    /// "iOS 17.5" from the OS version numbers (not UIKit, so any thread may ask).
    static var osVersion: String {
        let v = ProcessInfo.processInfo.operatingSystemVersion
        return v.patchVersion > 0 ? "\(v.majorVersion).\(v.minorVersion).\(v.patchVersion)"
            : "\(v.majorVersion).\(v.minorVersion)"
    }

    /// Called on the main thread (UIDevice is main-actor isolated).
    @MainActor
    static func current() -> [String: Any] {
        let kind = UIDevice.current.model + (isSimulator ? ", simulator" : "")
        return [
            "platform": "ios",
            "model": "\(machine()) (\(kind))",
            "os": "iOS \(UIDevice.current.systemVersion)",
            "cpu": cpuArchitecture,
            "abi": cpuArchitecture,
            "cores": ProcessInfo.processInfo.activeProcessorCount,
            "memory_bytes": Int(clamping: ProcessInfo.processInfo.physicalMemory),
            "simulator": isSimulator,
        ]
    }
}

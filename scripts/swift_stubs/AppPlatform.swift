// The one app-side name CoreMLRuntime.swift uses from Platform/DeviceInfo.swift (which needs UIKit), for the
// Linux typecheck only.
enum DeviceInfo {
    static var osVersion: String { fatalError("declaration only") }
}

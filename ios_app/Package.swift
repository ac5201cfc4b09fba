// swift-tools-version:5.9
// The app's measurement core (DeviceLab/Core: Foundation only, no Core ML, no UIKit) and its XCTests as a Swift
// package, so they build and run with the Swift toolchain on Linux too (`make ios-core`, scripts/ios_core.sh).
// The app itself is built from project.yml (XcodeGen) on a Mac; this package does not replace it.
import PackageDescription

let package = Package(
    name: "DeviceLabCore",
    products: [
        .library(name: "DeviceLabCore", targets: ["DeviceLabCore"]),
    ],
    targets: [
        .target(name: "DeviceLabCore", path: "DeviceLab/Core"),
        // The same test files as the Xcode DeviceLabTests bundle (which compiles Core into itself instead).
        .testTarget(name: "DeviceLabCoreTests", dependencies: ["DeviceLabCore"], path: "DeviceLabTests"),
    ]
)

import SwiftUI

/// The DeviceLab measurement app: the iOS side of devicelab's job/result protocol. The host copies a job folder
/// into Documents/jobs/<id>/ and launches the app with `--job-id <id>`; the app writes Documents/results/<id>/
/// (outputs, result.json, then DONE). See ios_app/README.md.
@main
struct DeviceLabApp: App {
    @StateObject private var controller = JobController()

    var body: some Scene {
        WindowGroup {
            ContentView(controller: controller)
                .onAppear { controller.startFromLaunch() }
        }
    }
}

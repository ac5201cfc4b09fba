import Foundation
import SwiftUI
import UIKit

/// Starts the job the host asked for (launch argument `--job-id <id>` or env DEVICELAB_JOB_ID), runs it on a
/// background queue and publishes its progress for the UI. One job per launch: the host relaunches the app
/// (`simctl launch --terminate-running-process`, `devicectl ... --terminate-existing`) for every job.
@MainActor
final class JobController: ObservableObject {
    @Published private(set) var jobID: String?
    @Published private(set) var phase = "idle"
    @Published private(set) var done = 0
    @Published private(set) var total = 0
    @Published private(set) var running = false
    @Published private(set) var summary = "Waiting for a job: the host starts the app with --job-id <id>."

    private var started = false
    private let queue = DispatchQueue(label: "dev.devicelab.measure", qos: .userInitiated)

    static var documents: URL {
        FileManager.default.urls(for: .documentDirectory, in: .userDomainMask)[0]
    }

    func startFromLaunch() {
        guard !started else { return }
        started = true
        // Make the folders the host copies into visible (and the container's Documents exists on first launch).
        for folder in ["jobs", "results"] {
            try? FileManager.default.createDirectory(at: JobController.documents.appendingPathComponent(folder),
                                                     withIntermediateDirectories: true)
        }
        if let gone = LaunchRequest.cleanupID(arguments: CommandLine.arguments) {
            // The host has the result of job <gone>: remove its folders and quit, so the host sees the app go.
            let removed = Housekeeping.remove(jobID: gone, documents: JobController.documents)
            NSLog("devicelab: cleanup of job %@ removed %@", gone, removed.joined(separator: ", "))
            exit(0)
        }
        let id = LaunchRequest.jobID(arguments: CommandLine.arguments,
                                     environment: ProcessInfo.processInfo.environment)
        if let id = id {
            start(jobID: id)
        }
    }

    func start(jobID id: String) {
        guard !running else { return }
        jobID = id
        guard JobProtocol.isValidJobID(id) else {
            summary = "'\(id)' is not a valid job id; nothing was run."
            NSLog("devicelab: invalid job id %@", id)
            return
        }
        let jobDir = JobController.documents.appendingPathComponent("jobs").appendingPathComponent(id)
        let resultDir = JobController.documents.appendingPathComponent("results").appendingPathComponent(id)
        let device = DeviceInfo.current()
        running = true
        phase = "starting"
        summary = "Running job \(id)"
        UIApplication.shared.isIdleTimerDisabled = true // the screen must not lock mid-measurement on a phone
        NSLog("devicelab: job %@ started", id)

        queue.async {
            let runner = JobRunner(factory: Runtimes.make, memory: PhysFootprintProbe(), device: device,
                                   clock: MonotonicClock(), progress: { phase, done, total in
                                       Task { @MainActor [weak self] in self?.progress(phase, done, total) }
                                   })
            let text: String
            do {
                let result = try runner.run(jobDir: jobDir, resultDir: resultDir)
                text = JobController.describe(result)
            } catch {
                text = "could not write the result folder: \(error)"
            }
            NSLog("devicelab: job %@ %@", id, text)
            Task { @MainActor [weak self] in self?.finish(text) }
        }
    }

    private func progress(_ phase: String, _ done: Int, _ total: Int) {
        self.phase = phase
        self.done = done
        self.total = total
    }

    private func finish(_ text: String) {
        running = false
        phase = "done"
        summary = text
        UIApplication.shared.isIdleTimerDisabled = false
    }

    nonisolated static func describe(_ result: JobResult) -> String {
        if !result.ok {
            return "error (\(result.errorKind ?? "?")): \(result.errorMessage ?? "")"
        }
        let runs = result.timings.runs.sorted()
        let median = runs.isEmpty ? nil : runs[runs.count / 2]
        var parts = ["ok", result.runtimeUsed ?? ""]
        if let load = result.timings.load { parts.append(String(format: "load %.1f ms", load)) }
        if let median = median { parts.append(String(format: "median %.3f ms", median) + " over \(runs.count) runs") }
        return parts.filter { !$0.isEmpty }.joined(separator: ", ")
    }
}

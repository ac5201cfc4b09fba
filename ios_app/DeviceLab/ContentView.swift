import SwiftUI

struct ContentView: View {
    @ObservedObject var controller: JobController

    var body: some View {
        NavigationStack {
            List {
                Section(header: Text("Job")) {
                    row("id", controller.jobID ?? "none")
                    row("phase", controller.phase)
                    if controller.running && controller.total > 0 {
                        ProgressView(value: Double(min(controller.done, controller.total)),
                                     total: Double(controller.total))
                        Text("\(controller.done) / \(controller.total)")
                            .font(.caption)
                    } else if controller.running {
                        ProgressView()
                    }
                    Text(controller.summary)
                        .font(.callout)
                        .textSelection(.enabled)
                }
                Section(header: Text("This app")) {
                    row("runtimes", Runtimes.available.joined(separator: ", "))
                    row("jobs", "Documents/jobs/<id>/")
                    row("results", "Documents/results/<id>/")
                }
            }
            .navigationTitle("DeviceLab")
        }
    }

    private func row(_ label: String, _ value: String) -> some View {
        HStack {
            Text(label).foregroundColor(.secondary)
            Spacer()
            Text(value).multilineTextAlignment(.trailing).font(.system(.callout, design: .monospaced))
        }
    }
}

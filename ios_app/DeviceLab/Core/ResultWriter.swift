import Foundation

/// Writes a result folder in the protocol's order: output tensors (written by the measurement), then result.json
/// (atomically: a temporary file and a rename), then DONE holding the status and a newline, always last.
enum ResultWriter {
    /// Makes `resultDir` and removes what an earlier run left there, DONE first.
    static func prepare(_ resultDir: URL) throws {
        try FileManager.default.createDirectory(at: resultDir, withIntermediateDirectories: true)
        for name in [JobProtocol.doneMarker, JobProtocol.resultFile, JobProtocol.resultFile + ".tmp",
                     JobProtocol.outputsDir] {
            try remove(resultDir.appendingPathComponent(name))
        }
    }

    /// Writes result.json, then DONE. For an error result, leftover output files are removed first.
    static func write(_ resultDir: URL, _ result: JobResult) throws {
        try FileManager.default.createDirectory(at: resultDir, withIntermediateDirectories: true)
        if !result.ok {
            try remove(resultDir.appendingPathComponent(JobProtocol.outputsDir))
        }
        var data = try JSON.data(result.json)
        data.append(contentsOf: Array("\n".utf8))
        try data.write(to: resultDir.appendingPathComponent(JobProtocol.resultFile), options: .atomic)
        try Data((result.status + "\n").utf8).write(to: resultDir.appendingPathComponent(JobProtocol.doneMarker))
    }

    /// Removes a file, a folder, or a symlink itself (never what it points to).
    private static func remove(_ url: URL) throws {
        let fm = FileManager.default
        // attributesOfItem does not follow a final symlink, so a dangling link is found and removed too.
        if (try? fm.attributesOfItem(atPath: url.path)) != nil {
            try fm.removeItem(at: url)
        }
    }
}

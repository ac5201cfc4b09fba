import Foundation

/// Runs one job folder and writes its result folder, whatever happens: the twin of runner.run_job and
/// JobRunner.java. Any failure becomes an error result (a JobError gives its kind, anything else is
/// "runtime_failure"), and DONE is always written last, so the host never has to guess.
///
/// What Swift cannot catch (a crash, an Objective-C exception, the OS killing the app for memory) leaves no DONE;
/// the host notices the app is gone and reports that itself.
final class JobRunner {
    typealias Factory = (Job) throws -> ModelRuntime

    private let factory: Factory
    private let memory: MemoryProbe
    private let device: [String: Any]
    private let clock: NanoClock
    private let progress: ProgressHandler?

    init(factory: @escaping Factory, memory: MemoryProbe, device: [String: Any], clock: NanoClock,
         progress: ProgressHandler?) {
        self.factory = factory
        self.memory = memory
        self.device = device
        self.clock = clock
        self.progress = progress
    }

    /// Measures the job in `jobDir` and writes `resultDir`. Throws only when the result folder itself cannot be
    /// written (then there is no way to answer the host).
    @discardableResult
    func run(jobDir: URL, resultDir: URL) throws -> JobResult {
        try ResultWriter.prepare(resultDir)
        let result = JobResult(jobID: jobDir.lastPathComponent, device: device)
        var runtime: ModelRuntime?
        do {
            let job = try Job.read(from: jobDir)
            result.jobID = job.id
            result.extra["threads"] = job.runtime.threads ?? 1
            let made = try factory(job)
            runtime = made
            try MeasurementLoop(clock: clock, memory: memory, progress: progress)
                .measure(job: job, jobDir: jobDir, resultDir: resultDir, runtime: made, result: result)
        } catch let error as JobError {
            result.fail(kind: error.kind, message: error.message, hint: error.hint)
        } catch {
            result.fail(kind: "runtime_failure", message: JobRunner.describe(error), hint: nil)
        }
        if let runtime = runtime {
            // Extra facts are a courtesy; they never replace what the measurement wrote.
            for (key, value) in runtime.extra() where result.extra[key] == nil {
                result.extra[key] = value
            }
            runtime.close()
        }
        try ResultWriter.write(resultDir, result)
        return result
    }

    /// "TypeName: description", as runner.py's `f"{type(exc).__name__}: {exc}"`, at most 2000 characters.
    static func describe(_ error: Error) -> String {
        let text = "\(type(of: error)): \(error)"
        return text.count > JobResult.maxMessage ? String(text.prefix(JobResult.maxMessage)) : text
    }
}

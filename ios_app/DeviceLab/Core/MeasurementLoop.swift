import Foundation

// The measurement core: the same phases in the same order as devicelab/runner.py and the Android app's
// MeasurementLoop.java, so figures from every target mean the same thing.
//
//   load (timed) -> first inference on sample 0 (timed alone) -> accuracy mode (every sample once, outputs kept)
//   -> performance mode (warmups, then runs until both `runs` and `min_seconds` are met, or `max_seconds`)
//
// Raw per-run times are kept; statistics are computed on the host, once. Everything runs on the calling thread.
// Nothing here imports Core ML or UIKit, so the loop is tested with a fake runtime (DeviceLabTests).

/// What every runtime adapter implements (the twin of devicelab/runtimes/base.py and ModelRuntime.java). Only
/// `run` is timed: `prepare` turns one sample into what the runtime eats and `finish` turns raw outputs back into
/// float32, both outside the timed region, as TFLite's benchmark_model does. A raw value returned by `run` is
/// finished or released before the next run, so a runtime may reuse its output buffers.
protocol ModelRuntime: AnyObject {
    /// The runtime family, e.g. "coreml" or "tflite" (device.runtime.name).
    var name: String { get }
    /// The runtime's version (device.runtime.version). Called before the timed load.
    func version() throws -> String
    /// Loads `modelURL` (job.model.files[0], a file or a package folder) with the job's runtime options. Timed.
    func load(modelURL: URL, job: Job) throws
    /// What really ran, e.g. "coreml (all requested; Core ML decides per layer)". After load.
    func used() -> String
    /// One sample: every job input with a batch of 1, in job order. Untimed.
    func prepare(_ sample: [TensorData]) throws -> Any
    /// One inference on a prepared feed. The only timed call.
    func run(_ feed: Any) throws -> Any
    /// A raw result as float32 tensors with their shapes, in output order. Untimed.
    func finish(_ raw: Any) throws -> [TensorData]
    /// Frees a raw result that will not be finished (warmups and timed runs). Untimed.
    func release(_ raw: Any)
    /// Output names in output order (empty when unknown: output_k is used then).
    func outputNames() -> [String]
    /// Runtime facts for result.extra; asked after load or after a failure.
    func extra() -> [String: Any]
    /// The per-operator table for result extra.profile (`deploy --profile`), asked once after every timed phase
    /// and memory reading, so whatever it costs weighs on none of them. A runtime without one returns
    /// ComputePlanTable.unavailable(reason); a throw is recorded the same way and never fails the job.
    func profile(job: Job) throws -> [String: Any]
    /// True only for test fakes: the result then says simulated.
    var simulated: Bool { get }
    func close()
}

extension ModelRuntime {
    func release(_ raw: Any) {}
    func outputNames() -> [String] { [] }
    func extra() -> [String: Any] { [:] }
    func profile(job: Job) throws -> [String: Any] {
        ComputePlanTable.unavailable("the \(name) runtime of the iOS app gives no per-operator placement or times")
    }
    var simulated: Bool { false }
    func close() {}
}

/// A monotonic nanosecond clock (a protocol so tests can drive time).
protocol NanoClock: AnyObject {
    func nanoTime() -> UInt64
}

/// `DispatchTime.now().uptimeNanoseconds`: mach_absolute_time converted to nanoseconds; monotonic, does not
/// count time asleep (irrelevant here: the app keeps the screen awake while it measures).
final class MonotonicClock: NanoClock {
    func nanoTime() -> UInt64 { DispatchTime.now().uptimeNanoseconds }
}

/// Process memory as the OS reports it (Platform/Memory.swift on iOS). `observe` is called between inferences,
/// outside the timed region, so a probe without a kernel peak mark can keep its own maximum.
protocol MemoryProbe: AnyObject {
    /// Current figures tagged with `phase`; may be empty.
    func sample(phase: String) -> [MemorySample]
    /// Starts a peak window (right after the before_load sample).
    func resetPeak()
    /// One observation for the peak; cheap, never inside a timed region.
    func observe()
    /// The peak(s) since `resetPeak`, tagged with `phase`; may be empty.
    func peak(phase: String) -> [MemorySample]
}

/// (phase, done, total); called from the measuring thread at most every 0.2 s per phase.
typealias ProgressHandler = (String, Int, Int) -> Void

final class MeasurementLoop {
    static let progressEveryNs: UInt64 = 200_000_000 // 0.2 s, as runner.py

    private let clock: NanoClock
    private let memory: MemoryProbe
    private let progress: ProgressHandler

    init(clock: NanoClock, memory: MemoryProbe, progress: ProgressHandler?) {
        self.clock = clock
        self.memory = memory
        self.progress = progress ?? { _, _, _ in }
    }

    /// Measures `job` (from `jobDir`) with `runtime` and fills `result`; output tensors go to `resultDir/outputs`.
    /// Throws on any failure; the caller (JobRunner) turns that into an error result.
    func measure(job: Job, jobDir: URL, resultDir: URL, runtime: ModelRuntime, result: JobResult) throws {
        var inputs: [TensorData] = []
        for spec in job.inputs {
            inputs.append(try Tensors.read(root: jobDir, spec: spec))
        }
        let samples = try MeasurementLoop.sampleCount(job: job, inputs: inputs)
        let modelURL = try Tensors.inside(jobDir, job.model.files[0]) // files[0] is what the runtime opens
        guard FileManager.default.fileExists(atPath: modelURL.path) else {
            throw JobError.proto("model file '\(job.model.files[0])' is missing in \(jobDir.path)",
                                 hint: "push the whole job folder before starting the app")
        }

        let runtimeVersion = try runtime.version()
        result.device["runtime"] = ["name": runtime.name, "version": runtimeVersion]
        result.extra["samples"] = samples

        result.memory += memory.sample(phase: "before_load")
        memory.resetPeak()

        progress("load", 0, 1)
        var started = clock.nanoTime()
        try runtime.load(modelURL: modelURL, job: job)
        result.timings.load = Timings.ms(from: started, to: clock.nanoTime())
        result.memory += memory.sample(phase: "after_load")
        memory.observe()

        var feeds: [Any] = []
        feeds.reserveCapacity(samples)
        for i in 0..<samples {
            feeds.append(try runtime.prepare(inputs.map { $0.sample(i) }))
        }
        inputs = [] // the prepared feeds are what stays alive from here on

        progress("first_inference", 0, 1)
        started = clock.nanoTime()
        let firstRaw = try runtime.run(feeds[0])
        result.timings.firstInference = Timings.ms(from: started, to: clock.nanoTime())
        memory.observe()

        if job.accuracy.enabled {
            var collected: [[TensorData]] = [try runtime.finish(firstRaw)]
            collected.reserveCapacity(samples)
            let ticker = Ticker(clock: clock, progress: progress, phase: "accuracy", total: samples)
            started = clock.nanoTime()
            if samples > 1 {
                for i in 1..<samples {
                    let raw = try runtime.run(feeds[i])
                    collected.append(try runtime.finish(raw))
                    memory.observe() // a few microseconds inside accuracy_total, never inside a per-run time
                    ticker.tick(i + 1)
                }
            }
            result.timings.accuracyTotal = Timings.ms(from: started, to: clock.nanoTime())
            try writeOutputs(runtime: runtime, collected: collected, resultDir: resultDir, result: result)
        } else {
            runtime.release(firstRaw)
        }

        if job.performance.enabled {
            try performance(runtime: runtime, feeds: feeds, perf: job.performance, result: result)
        }

        result.memory += memory.peak(phase: "run")
        result.memory += memory.sample(phase: "after_run")
        result.runtimeUsed = runtime.used()
        result.simulated = runtime.simulated
        if job.runtime.profile == true {
            progress("profile", 0, 1)
            result.extra["profile"] = MeasurementLoop.profile(runtime: runtime, job: job)
        }
    }

    /// The runtime's per-operator table, or why there is none: profiling is a second, optional pass, so its
    /// failure is recorded in the table and the measured figures stay.
    static func profile(runtime: ModelRuntime, job: Job) -> [String: Any] {
        do {
            return try runtime.profile(job: job)
        } catch let error as JobError {
            return ComputePlanTable.unavailable("profiling failed: \(error.message)")
        } catch {
            return ComputePlanTable.unavailable("profiling failed: \(JobRunner.describe(error))")
        }
    }

    static func sampleCount(job: Job, inputs: [TensorData]) throws -> Int {
        var samples = -1
        for (k, x) in inputs.enumerated() {
            let name = job.inputs[k].name
            guard let n = x.shape.first else {
                throw JobError.proto("input '\(name)' is a scalar; inputs are [samples, ...]")
            }
            if samples >= 0 && n != samples {
                throw JobError.proto("input '\(name)' has \(n) samples, the first input \(samples)")
            }
            samples = n
        }
        if samples <= 0 {
            throw JobError.proto("the job has no samples (input shape starts with 0)")
        }
        return samples
    }

    private func writeOutputs(runtime: ModelRuntime, collected: [[TensorData]], resultDir: URL,
                              result: JobResult) throws {
        let count = collected[0].count
        let names = runtime.outputNames()
        for k in 0..<count {
            var parts: [TensorData] = []
            parts.reserveCapacity(collected.count)
            for sample in collected {
                if sample.count != count {
                    throw JobError("model_run", "the model returned \(sample.count) outputs for one sample and "
                                   + "\(count) for another")
                }
                parts.append(sample[k])
            }
            let name = k < names.count && !names[k].isEmpty ? names[k] : "output_\(k)"
            result.outputs.append(try Tensors.write(root: resultDir, relative: JobProtocol.outputFile(k), name: name,
                                                    tensor: try Tensors.stack(parts)))
        }
    }

    private func performance(runtime: ModelRuntime, feeds: [Any], perf: Job.Performance, result: JobResult) throws {
        progress("warmup", 0, perf.warmupRuns)
        for i in 0..<perf.warmupRuns {
            let started = clock.nanoTime()
            let raw = try runtime.run(feeds[i % feeds.count])
            result.timings.warmup.append(Timings.ms(from: started, to: clock.nanoTime()))
            runtime.release(raw)
            memory.observe()
        }
        let ticker = Ticker(clock: clock, progress: progress, phase: "performance", total: perf.runs)
        let begin = clock.nanoTime()
        let minNs = perf.minSeconds * 1e9
        let maxNs = perf.maxSeconds * 1e9
        var i = 0
        while true {
            let feed = feeds[i % feeds.count]
            let started = clock.nanoTime()
            let raw = try runtime.run(feed)
            let ended = clock.nanoTime()
            result.timings.runs.append(Timings.ms(from: started, to: ended))
            runtime.release(raw)
            memory.observe()
            i += 1
            let elapsed = ended >= begin ? Double(ended - begin) : 0
            ticker.tick(min(i, perf.runs))
            if (i >= perf.runs && elapsed >= minNs) || elapsed >= maxNs {
                break
            }
        }
    }
}

/// Reports progress at most every 0.2 s, so reporting never weighs on what is being timed. The first time `done`
/// reaches `total` is always reported.
final class Ticker {
    private let clock: NanoClock
    private let progress: ProgressHandler
    private let phase: String
    private let total: Int
    private var last: UInt64
    private var lastDone = 0

    init(clock: NanoClock, progress: @escaping ProgressHandler, phase: String, total: Int) {
        self.clock = clock
        self.progress = progress
        self.phase = phase
        self.total = total
        self.last = clock.nanoTime()
        progress(phase, 0, total)
    }

    func tick(_ done: Int) {
        let now = clock.nanoTime()
        let reachedTotal = done >= total && lastDone < total
        if reachedTotal || now &- last >= MeasurementLoop.progressEveryNs {
            last = now
            lastDone = done
            progress(phase, done, total)
        }
    }
}

import Foundation

// The per-operator table of `deploy --profile` on iOS, in the shape the host reads from result extra.profile
// (devicelab/study/document.py profile_table, devicelab/explain/profile.py). Core ML's MLComputePlan (iOS 17.4+)
// says, for each operation, which compute device Core ML prefers and which could run it, and an estimated cost
// (a fraction of the whole model); it measures no time. Walking the plan needs Core ML (Runtimes/CoreMLRuntime);
// turning what it said into the table is here, Foundation only, so it is tested on Linux too.

/// One operation (ML Program) or layer (NeuralNetwork) as MLComputePlan describes it.
struct PlannedOperation: Equatable {
    /// The op's name: a NeuralNetwork layer's name, an ML Program op's first output (ops have no name of their own).
    let name: String
    /// The MIL operator (e.g. "conv") or the NeuralNetwork layer type.
    let opType: String
    /// "cpu", "gpu" or "neural-engine"; nil when Core ML gave no device usage (e.g. `const` ops, which never run).
    let preferred: String?
    let supported: [String]
    /// MLComputePlan.Cost.weight (a fraction of the whole model's cost); nil when Core ML gave none (layers of
    /// NeuralNetwork models never have one).
    let costWeight: Double?
}

enum ComputePlanTable {
    static let source = "Core ML MLComputePlan (estimated, not timed)"
    static let devices = ["cpu", "gpu", "neural-engine"]

    /// The device a job's compute units ask for: the fastest one they allow (Core ML prefers the Neural Engine
    /// when `all` allows it), as the host names providers. Unknown units give nil.
    static func requestedDevice(computeUnits: String) -> String? {
        switch computeUnits {
        case "cpu": return "cpu"
        case "cpu-gpu": return "gpu"
        case "all", "cpu-ane": return "neural-engine"
        default: return nil
        }
    }

    /// What a job that asked for profiling gets when there is no table, with the exact reason.
    static func unavailable(_ reason: String) -> [String: Any] {
        ["available": false, "reason": Messages.oneLine(reason, limit: 800)]
    }

    /// The extra.profile table: every operation with its preferred and supported devices and estimated cost, and
    /// the share of ops and of estimated cost preferred on the requested device. Ops without a device usage
    /// (constants) are listed but left out of both shares; ops without a cost are left out of the cost share,
    /// which is null when no op has a cost.
    static func make(_ operations: [PlannedOperation], requested: String) -> [String: Any] {
        let placed = operations.filter { $0.preferred != nil }
        let onRequested = placed.filter { $0.preferred == requested }
        let costed = placed.compactMap { $0.costWeight }
        let totalCost = costed.reduce(0, +)
        let requestedCost = onRequested.compactMap { $0.costWeight }.reduce(0, +)
        let rows: [[String: Any]] = operations.map { op in
            ["name": op.name, "op_type": op.opType, "provider": JSON.orNull(op.preferred), "supported": op.supported,
             "cost_weight": JSON.orNull(op.costWeight.map { round($0, digits: 6) }), "mean_ms": NSNull()]
        }
        var byDevice: [String: Int] = [:]
        for op in placed { byDevice[op.preferred!, default: 0] += 1 }
        return [
            "source": source,
            "requested_provider": requested,
            "runs": 0, // nothing ran for this table: MLComputePlan is a plan, not a measurement
            "operators": rows,
            "ops_planned": placed.count,
            "ops_without_device": operations.count - placed.count,
            "ops_by_device": byDevice,
            "share_ops_on_requested": JSON.orNull(placed.isEmpty ? nil
                                                  : round(Double(onRequested.count) / Double(placed.count), digits: 4)),
            "share_cost_on_requested": JSON.orNull(totalCost > 0 ? round(requestedCost / totalCost, digits: 4) : nil),
            "share_time_on_requested": NSNull(),
        ]
    }

    static func round(_ value: Double, digits: Int) -> Double {
        let scale = pow(10.0, Double(digits))
        return (value * scale).rounded() / scale
    }
}

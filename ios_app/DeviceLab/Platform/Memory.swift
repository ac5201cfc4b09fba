import Foundation

/// The process's memory as iOS accounts it: `phys_footprint` from `task_info(TASK_VM_INFO)`, the figure Xcode's
/// memory gauge shows and the one the OS kills apps on (not resident size).
enum TaskMemory {
    struct Reading {
        let footprint: UInt64
        /// `ledger_phys_footprint_peak`: the kernel's high-water mark since process start (nil on old kernels).
        let ledgerPeak: Int64?
    }

    static func read() -> Reading? {
        // TASK_VM_INFO_COUNT is a macro the Swift importer cannot see; it is the struct's size in integer_t units.
        let fullCount = mach_msg_type_number_t(MemoryLayout<task_vm_info_data_t>.size / MemoryLayout<integer_t>.size)
        var info = task_vm_info_data_t()
        var count = fullCount
        let kr = withUnsafeMutablePointer(to: &info) { pointer -> kern_return_t in
            pointer.withMemoryRebound(to: integer_t.self, capacity: Int(fullCount)) { raw in
                task_info(mach_task_self_, task_flavor_t(TASK_VM_INFO), raw, &count)
            }
        }
        guard kr == KERN_SUCCESS else { return nil }
        // phys_footprint is valid when the kernel filled the struct at least up to min_address (revision 1).
        let filled = Int(count) * MemoryLayout<integer_t>.size
        guard let rev1 = MemoryLayout<task_vm_info_data_t>.offset(of: \task_vm_info_data_t.min_address),
              filled >= rev1 else { return nil }
        var ledger: Int64?
        if let offset = MemoryLayout<task_vm_info_data_t>.offset(of: \task_vm_info_data_t.ledger_phys_footprint_peak),
           filled >= offset + MemoryLayout<Int64>.size {
            ledger = info.ledger_phys_footprint_peak
        }
        return Reading(footprint: info.phys_footprint, ledgerPeak: ledger)
    }
}

/// The iOS MemoryProbe: phys_footprint before load, after load and after the run; the peak is the largest
/// phys_footprint sampled between inferences (outside the timed region), plus the kernel's own lifetime peak.
final class PhysFootprintProbe: MemoryProbe {
    static let method = "phys_footprint (task_info TASK_VM_INFO)"

    private var baseline: UInt64?
    private var highest: UInt64 = 0

    func sample(phase: String) -> [MemorySample] {
        guard let reading = TaskMemory.read() else { return [] }
        return [MemorySample(metric: "phys_footprint", value: mib(reading.footprint), unit: "MiB",
                             method: PhysFootprintProbe.method, phase: phase)]
    }

    func resetPeak() {
        let now = TaskMemory.read()?.footprint
        baseline = now
        highest = now ?? 0
    }

    func observe() {
        if let now = TaskMemory.read()?.footprint, now > highest {
            highest = now
        }
    }

    func peak(phase: String) -> [MemorySample] {
        observe()
        var out: [MemorySample] = []
        if highest > 0 {
            out.append(MemorySample(metric: "peak_phys_footprint", value: mib(highest), unit: "MiB",
                                    method: PhysFootprintProbe.method + ", max sampled between inferences",
                                    phase: phase))
        }
        if let base = baseline, highest >= base {
            out.append(MemorySample(metric: "peak_over_baseline", value: mib(highest - base), unit: "MiB",
                                    method: PhysFootprintProbe.method + ": max between inferences - before load",
                                    phase: phase))
        }
        if let ledger = TaskMemory.read()?.ledgerPeak, ledger > 0 {
            out.append(MemorySample(metric: "peak_phys_footprint_ledger", value: Double(ledger) / 1_048_576,
                                    unit: "MiB",
                                    method: "ledger_phys_footprint_peak (task_info TASK_VM_INFO), since process start",
                                    phase: phase))
        }
        return out
    }

    private func mib(_ bytes: UInt64) -> Double { Double(bytes) / 1_048_576 }
}

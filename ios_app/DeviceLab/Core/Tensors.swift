import Foundation

/// The tensor dtypes the protocol carries, with their item sizes; files are raw little-endian.
enum DType: String, CaseIterable {
    case float32, float16, int8, uint8, int32, int64, bool

    var itemSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float16: return 2
        case .int8, .uint8, .bool: return 1
        case .int64: return 8
        }
    }
}

/// A tensor in memory: dtype, shape and its raw little-endian bytes, exactly as the protocol's tensor files hold
/// them. Runtimes turn it into what they eat in `prepare`, outside the timed region.
struct TensorData: Equatable {
    let dtype: DType
    let shape: [Int]
    let bytes: [UInt8]

    init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        precondition(Shapes.elementCount(shape).map { $0 * dtype.itemSize } == bytes.count,
                     "\(dtype.rawValue)\(shape) needs another byte count than \(bytes.count)")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    static func float32(shape: [Int], values: [Float]) -> TensorData {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 4)
        for v in values {
            let bits = v.bitPattern
            bytes.append(UInt8(truncatingIfNeeded: bits))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 8))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 16))
            bytes.append(UInt8(truncatingIfNeeded: bits >> 24))
        }
        return TensorData(dtype: .float32, shape: shape, bytes: bytes)
    }

    static func int32(shape: [Int], values: [Int32]) -> TensorData {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 4)
        for v in values { LE.append32(&bytes, UInt32(bitPattern: v)) }
        return TensorData(dtype: .int32, shape: shape, bytes: bytes)
    }

    static func int64(shape: [Int], values: [Int64]) -> TensorData {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 8)
        for v in values { LE.append64(&bytes, UInt64(bitPattern: v)) }
        return TensorData(dtype: .int64, shape: shape, bytes: bytes)
    }

    var count: Int { bytes.count / dtype.itemSize }

    /// Every element as a whole number, exact for every integer dtype (token ids past 2^24 stay exact, which a
    /// float32 round trip would not keep); floats are rounded and clamped, NaN is 0, bool is 0/1.
    func integers() -> [Int64] {
        let n = count
        let b = bytes
        switch dtype {
        case .int8: return b.map { Int64(Int8(bitPattern: $0)) }
        case .uint8, .bool: return b.map { Int64($0) }
        case .int32: return (0..<n).map { Int64(Int32(bitPattern: LE.u32(b, $0 * 4))) }
        case .int64: return (0..<n).map { Int64(bitPattern: LE.u64(b, $0 * 8)) }
        case .float32, .float16: return floats().map { TensorData.clampedInteger(Double($0)) }
        }
    }

    /// This tensor in another dtype (what a runtime's input takes), element by element: integers stay exact
    /// where the target holds them (else they saturate), floats round to integers, anything non-zero is true.
    func converted(to target: DType) -> TensorData {
        if target == dtype { return self }
        var out = [UInt8]()
        out.reserveCapacity(count * target.itemSize)
        switch target {
        case .float32:
            for v in floats() { LE.append32(&out, v.bitPattern) }
        case .float16:
            for v in floats() { LE.append16(&out, Half.fromFloat(v)) }
        case .bool:
            if dtype == .float32 || dtype == .float16 {
                out = floats().map { $0 != 0 ? 1 : 0 }
            } else {
                out = integers().map { $0 != 0 ? 1 : 0 }
            }
        case .int8:
            out = integers().map { UInt8(bitPattern: Int8(clamping: $0)) }
        case .uint8:
            out = integers().map { UInt8(clamping: $0) }
        case .int32:
            for v in integers() { LE.append32(&out, UInt32(bitPattern: Int32(clamping: v))) }
        case .int64:
            for v in integers() { LE.append64(&out, UInt64(bitPattern: v)) }
        }
        return TensorData(dtype: target, shape: shape, bytes: out)
    }

    static func clampedInteger(_ value: Double) -> Int64 {
        if value.isNaN { return 0 }
        let rounded = value.rounded(.toNearestOrEven) // as numpy
        if rounded >= 9.223372036854775807e18 { return Int64.max }
        if rounded <= -9.223372036854775808e18 { return Int64.min }
        return Int64(rounded)
    }

    /// Every element as float32 (float16 widened, integers converted, bool as 0/1).
    func floats() -> [Float] {
        let n = count
        var out = [Float](repeating: 0, count: n)
        let b = bytes
        switch dtype {
        case .float32:
            for i in 0..<n { out[i] = Float(bitPattern: LE.u32(b, i * 4)) }
        case .float16:
            for i in 0..<n { out[i] = Half.toFloat(LE.u16(b, i * 2)) }
        case .int8:
            for i in 0..<n { out[i] = Float(Int8(bitPattern: b[i])) }
        case .uint8, .bool:
            for i in 0..<n { out[i] = Float(b[i]) }
        case .int32:
            for i in 0..<n { out[i] = Float(Int32(bitPattern: LE.u32(b, i * 4))) }
        case .int64:
            for i in 0..<n { out[i] = Float(Int64(bitPattern: LE.u64(b, i * 8))) }
        }
        return out
    }

    /// Sample `i` of a [N, ...] tensor as a [1, ...] tensor.
    func sample(_ i: Int) -> TensorData {
        precondition(!shape.isEmpty && i >= 0 && i < shape[0], "sample \(i) of \(shape)")
        let per = bytes.count / shape[0]
        return TensorData(dtype: dtype, shape: [1] + shape.dropFirst(), bytes: Array(bytes[(i * per)..<((i + 1) * per)]))
    }
}

enum Shapes {
    /// The element count of `shape`, or nil when a dimension is negative or the count overflows.
    static func elementCount(_ shape: [Int]) -> Int? {
        var count = 1
        for d in shape {
            if d < 0 { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            count = product
        }
        return count
    }

    /// Element offsets (in scalars) of every index of `shape` in row-major order, for storage laid out with
    /// `strides` (Core ML arrays may be padded: never assume contiguous storage).
    static func rowMajorOffsets(shape: [Int], strides: [Int]) -> [Int] {
        guard let count = elementCount(shape), count > 0 else { return [] }
        precondition(shape.count == strides.count, "shape \(shape) and strides \(strides) differ in rank")
        var contiguous = true
        var expected = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            if shape[d] > 1 && strides[d] != expected { contiguous = false }
            expected *= shape[d]
        }
        if contiguous { return Array(0..<count) }
        var offsets = [Int]()
        offsets.reserveCapacity(count)
        var index = [Int](repeating: 0, count: shape.count)
        for _ in 0..<count {
            var offset = 0
            for d in 0..<shape.count { offset += index[d] * strides[d] }
            offsets.append(offset)
            var d = shape.count - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return offsets
    }

    static func format(_ shape: [Int]) -> String {
        "[" + shape.map(String.init).joined(separator: ", ") + "]"
    }
}

/// Little-endian reads from a byte array (whatever the CPU's own order).
enum LE {
    @inline(__always) static func u16(_ b: [UInt8], _ o: Int) -> UInt16 {
        UInt16(b[o]) | (UInt16(b[o + 1]) << 8)
    }

    @inline(__always) static func u32(_ b: [UInt8], _ o: Int) -> UInt32 {
        UInt32(b[o]) | (UInt32(b[o + 1]) << 8) | (UInt32(b[o + 2]) << 16) | (UInt32(b[o + 3]) << 24)
    }

    @inline(__always) static func u64(_ b: [UInt8], _ o: Int) -> UInt64 {
        UInt64(u32(b, o)) | (UInt64(u32(b, o + 4)) << 32)
    }

    @inline(__always) static func append16(_ b: inout [UInt8], _ v: UInt16) {
        b.append(UInt8(truncatingIfNeeded: v))
        b.append(UInt8(truncatingIfNeeded: v >> 8))
    }

    @inline(__always) static func append32(_ b: inout [UInt8], _ v: UInt32) {
        for shift in stride(from: 0, to: 32, by: 8) { b.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }

    @inline(__always) static func append64(_ b: inout [UInt8], _ v: UInt64) {
        for shift in stride(from: 0, to: 64, by: 8) { b.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
}

/// IEEE 754 half precision <-> float32, by bits (Swift's Float16 type is not available on every simulator arch).
enum Half {
    static func toFloat(_ h: UInt16) -> Float {
        let sign: UInt32 = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1f)
        let mantissa = UInt32(h & 0x03ff)
        if exponent == 0 {
            if mantissa == 0 { return Float(bitPattern: sign) }
            let value = Float(mantissa) / 16_777_216 // mantissa * 2^-24
            return sign != 0 ? -value : value
        }
        if exponent == 0x1f {
            return Float(bitPattern: sign | 0x7f80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | (UInt32(exponent - 15 + 127) << 23) | (mantissa << 13))
    }

    /// Round to nearest, ties to even (as numpy's astype(float16)).
    static func fromFloat(_ value: Float) -> UInt16 {
        let x = value.bitPattern
        let sign = UInt16((x >> 16) & 0x8000)
        let exponent = Int((x >> 23) & 0xff)
        var mantissa = x & 0x007f_ffff
        if exponent == 0xff {
            return sign | 0x7c00 | (mantissa != 0 ? 0x0200 : 0)
        }
        let e = exponent - 127 + 15
        if e >= 0x1f { return sign | 0x7c00 }
        if e <= 0 {
            if e < -10 { return sign }
            mantissa |= 0x0080_0000
            let shift = UInt32(14 - e)
            var half = mantissa >> shift
            let rest = mantissa & ((UInt32(1) << shift) - 1)
            let halfway = UInt32(1) << (shift - 1)
            if rest > halfway || (rest == halfway && (half & 1) == 1) { half += 1 }
            return sign | UInt16(half)
        }
        var half = (UInt32(e) << 10) | (mantissa >> 13)
        let rest = mantissa & 0x1fff
        if rest > 0x1000 || (rest == 0x1000 && (half & 1) == 1) { half += 1 } // a carry makes inf, as it should
        return sign | UInt16(half)
    }
}

/// Raw little-endian tensor files: read with the size check of protocol.read_tensor, write for outputs.
enum Tensors {
    /// `root/relative`, refusing anything that resolves outside `root`: `..` and absolute paths always, and a
    /// symlink inside the folder that points out of it when the file exists. (Both sides are resolved the same
    /// way, so the /var -> /private/var link of iOS containers does not matter.)
    static func inside(_ root: URL, _ relative: String) throws -> URL {
        if let problem = JobProtocol.relativePathProblem(relative) {
            throw JobError.proto("'\(relative)' \(problem)", hint: "tensor and model files must be relative")
        }
        let file = root.appendingPathComponent(relative)
        guard FileManager.default.fileExists(atPath: file.path) else { return file } // the caller reports it
        let base = root.resolvingSymlinksInPath().standardizedFileURL.path
        let resolved = file.resolvingSymlinksInPath().standardizedFileURL.path
        let prefix = base.hasSuffix("/") ? base : base + "/"
        guard resolved.hasPrefix(prefix) else {
            throw JobError.proto("'\(relative)' points outside its folder \(root.path)",
                                 hint: "tensor and model files must be relative")
        }
        return file
    }

    static func read(root: URL, spec: TensorSpec) throws -> TensorData {
        guard let dtype = DType(rawValue: spec.dtype) else {
            throw JobError.proto("tensor '\(spec.name)' has dtype \(spec.dtype), which the protocol does not carry ("
                                 + DType.allCases.map { $0.rawValue }.joined(separator: ", ") + ")")
        }
        let url = try inside(root, spec.file)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw JobError.proto("tensor file '\(spec.file)' for '\(spec.name)' is missing in \(root.path)",
                                 hint: "push the whole job folder before starting the app")
        }
        let data = try Data(contentsOf: url)
        let count = Shapes.elementCount(spec.shape)
        let expected = count.map { $0.multipliedReportingOverflow(by: dtype.itemSize) }
        guard let needed = expected, !needed.overflow, needed.partialValue == data.count else {
            let wanted = expected.map { String($0.partialValue) } ?? "?"
            throw JobError.proto("tensor file '\(spec.file)' holds \(data.count) bytes; \(spec.dtype)"
                                 + "\(Shapes.format(spec.shape)) needs \(wanted)",
                                 hint: "the file was truncated or written with another shape")
        }
        return TensorData(dtype: dtype, shape: spec.shape, bytes: [UInt8](data))
    }

    /// Writes `tensor` to `root/relative` and returns the spec that names it.
    static func write(root: URL, relative: String, name: String, tensor: TensorData) throws -> TensorSpec {
        let url = try inside(root, relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(tensor.bytes).write(to: url)
        return TensorSpec(name: name, dtype: tensor.dtype.rawValue, shape: tensor.shape, file: relative)
    }

    /// Stacks per-sample outputs along axis 0, as runner.py's `np.concatenate(..., axis=0)`: [1, 10] x N gives
    /// [N, 10]; scalar outputs stack to [N]. The output keeps its dtype (int32 / int64 ids, bool masks, ...);
    /// only parts of different dtypes fall back to float32.
    static func stack(_ parts: [TensorData]) throws -> TensorData {
        guard let head = parts.first else { throw JobError("model_run", "the model returned no output") }
        let first = head.shape
        let dtype = parts.allSatisfy({ $0.dtype == head.dtype }) ? head.dtype : .float32
        var lead = 0
        var bytes = [UInt8]()
        bytes.reserveCapacity(parts.count * head.bytes.count)
        for part in parts {
            let s = part.shape
            if s.count != first.count || Array(s.dropFirst()) != Array(first.dropFirst()) {
                throw JobError("model_run", "the model's output shape changed between samples: "
                               + "\(Shapes.format(first)) then \(Shapes.format(s))")
            }
            lead += s.isEmpty ? 1 : s[0]
            bytes.append(contentsOf: part.converted(to: dtype).bytes)
        }
        let shape = first.isEmpty ? [lead] : [lead] + first.dropFirst()
        return TensorData(dtype: dtype, shape: shape, bytes: bytes)
    }
}

package dev.devicelab.core;

/**
 * A failure the host understands: {@code kind} becomes {@code error.kind} in result.json, next to the
 * message and a hint (what to do about it), as devicelab's own errors carry.
 *
 * <p>Kinds used by the app: {@code protocol} (the job folder is malformed or from another protocol
 * version), {@code unknown_runtime}, {@code runtime_unavailable}, {@code model_run} (the runtime cannot
 * load or run this model). Anything else that escapes becomes {@code runtime_failure}.
 */
public class JobException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    public final String kind;
    public final String hint;

    public JobException(String kind, String message) {
        this(kind, message, null, null);
    }

    public JobException(String kind, String message, String hint) {
        this(kind, message, hint, null);
    }

    public JobException(String kind, String message, String hint, Throwable cause) {
        super(message, cause);
        this.kind = kind;
        this.hint = hint;
    }

    public static JobException protocol(String message) {
        return new JobException("protocol", message, null);
    }

    public static JobException protocol(String message, String hint) {
        return new JobException("protocol", message, hint);
    }
}

package dev.devicelab.core;

/** The names both sides of the job/result protocol agree on (see devicelab/protocol.py). */
public final class Protocol {
    public static final String JOB_SCHEMA = "devicelab.job/1";
    public static final String RESULT_SCHEMA = "devicelab.result/1";
    public static final String JOB_FILE = "job.json";
    public static final String RESULT_FILE = "result.json";
    /** Written last, holding the status and a newline, so the host never reads a half-written folder. */
    public static final String DONE_MARKER = "DONE";
    public static final String OUTPUTS_DIR = "outputs";

    private Protocol() {}

    /** Where output k of a result goes, relative to the result folder. */
    public static String outputFile(int k) {
        return OUTPUTS_DIR + "/output_" + k + ".bin";
    }
}

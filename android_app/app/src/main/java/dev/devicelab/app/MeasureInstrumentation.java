package dev.devicelab.app;

import android.app.Activity;
import android.app.Instrumentation;
import android.os.Bundle;
import android.util.Log;
import dev.devicelab.core.Progress;
import dev.devicelab.core.Result;

/**
 * Entry 2: {@code am instrument -w -r -e job_id <id> dev.devicelab.app/.MeasureInstrumentation} (or
 * {@code -e job_dir <path>}, optionally {@code -e result_dir <path>}). Runs the job synchronously in
 * {@link #onStart()} and finishes with the status, which is what Firebase Test Lab and AWS Device Farm run.
 *
 * <p>What {@code am instrument -w} prints (AOSP Instrument.TextStatusReporter): every bundle here carries a
 * {@code stream} text, and without {@code -r} ONLY that text is printed: progress lines ("devicelab: job j1
 * accuracy 40/100"), then the final "devicelab: job j1 ok (tflite-xnnpack), result in ..." or "devicelab: job j1
 * error model_run: ...". With {@code -r} every key is printed: INSTRUMENTATION_STATUS lines with
 * INSTRUMENTATION_STATUS_CODE: 2 for progress (not 1, which device-farm parsers read as "test started"), then
 * INSTRUMENTATION_RESULT: status=ok|error, job_id, result_dir (runtime_used, or error_kind and error_message)
 * and INSTRUMENTATION_CODE: -1 (ok) or 0 (error).
 */
public class MeasureInstrumentation extends Instrumentation {
    /** The status code of progress bundles: not 0/1/-1..-4, which instrumentation test parsers interpret. */
    static final int STATUS_PROGRESS = 2;
    private Bundle arguments = new Bundle();

    @Override
    public void onCreate(Bundle arguments) {
        super.onCreate(arguments);
        if (arguments != null) {
            this.arguments = arguments;
        }
        start(); // a new thread that calls onStart()
    }

    @Override
    public void onStart() {
        super.onStart();
        Bundle out = new Bundle();
        out.putString(REPORT_KEY_IDENTIFIER, "devicelab");
        int code = Activity.RESULT_CANCELED;
        try {
            final JobLauncher.Request request = JobLauncher.resolve(getTargetContext(),
                    arguments.getString(JobLauncher.EXTRA_JOB_ID), arguments.getString(JobLauncher.EXTRA_JOB_DIR),
                    arguments.getString(JobLauncher.EXTRA_RESULT_DIR));
            out.putString("job_id", request.jobId);
            out.putString("result_dir", request.resultDir.getAbsolutePath());
            JobLauncher.STARTS.begin(request.resultDir.getAbsolutePath());
            Result result = JobLauncher.run(request, new Progress() {
                @Override
                public void update(String phase, int done, int total) {
                    Bundle status = new Bundle();
                    status.putString(REPORT_KEY_IDENTIFIER, "devicelab");
                    status.putString("phase", phase);
                    status.putInt("done", done);
                    status.putInt("total", total);
                    status.putString(REPORT_KEY_STREAMRESULT, "devicelab: job " + request.jobId + " " + phase
                            + (total > 0 ? " " + done + "/" + total : "") + "\n");
                    sendStatus(STATUS_PROGRESS, status);
                }
            });
            out.putString("status", result.status);
            if (result.ok()) {
                code = Activity.RESULT_OK;
                out.putString("runtime_used", result.runtimeUsed);
                out.putString(REPORT_KEY_STREAMRESULT, "devicelab: job " + request.jobId + " ok ("
                        + result.runtimeUsed + "), result in " + request.resultDir + "\n");
            } else {
                out.putString("error_kind", result.errorKind);
                out.putString("error_message", result.errorMessage);
                out.putString(REPORT_KEY_STREAMRESULT, "devicelab: job " + request.jobId + " error "
                        + result.errorKind + ": " + result.errorMessage + "\n");
            }
        } catch (Throwable t) { // no job argument, or the result folder could not be written
            Log.e(JobLauncher.TAG, "instrumentation failed", t);
            String kind = t instanceof IllegalArgumentException ? "usage" : "result_unwritable";
            out.putString("status", "error");
            out.putString("error_kind", kind);
            out.putString("error_message", String.valueOf(t.getMessage()));
            out.putString(REPORT_KEY_STREAMRESULT, "devicelab: error " + kind + ": " + t.getMessage() + "\n");
        }
        finish(code, out);
    }
}

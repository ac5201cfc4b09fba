package dev.devicelab.app;

import android.app.Activity;
import android.app.Instrumentation;
import android.os.Bundle;
import android.util.Log;
import dev.devicelab.core.Progress;
import dev.devicelab.core.Result;

/**
 * Entry 2: {@code am instrument -w -e job_id <id> dev.devicelab.app/.MeasureInstrumentation} (or
 * {@code -e job_dir <path>}, optionally {@code -e result_dir <path>}). Runs the job synchronously in
 * {@link #onStart()} and finishes with the status, which is what Firebase Test Lab and AWS Device Farm run.
 *
 * <p>{@code am instrument -w} prints progress as INSTRUMENTATION_STATUS lines (at most every 0.2 s) and ends
 * with INSTRUMENTATION_RESULT: status=ok|error, job_id, result_dir (and error_kind, error_message), then
 * INSTRUMENTATION_CODE: -1 (ok) or 0 (error).
 */
public class MeasureInstrumentation extends Instrumentation {
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
        int code = Activity.RESULT_CANCELED;
        try {
            JobLauncher.Request request = JobLauncher.resolve(getTargetContext(),
                    arguments.getString(JobLauncher.EXTRA_JOB_ID), arguments.getString(JobLauncher.EXTRA_JOB_DIR),
                    arguments.getString(JobLauncher.EXTRA_RESULT_DIR));
            out.putString("job_id", request.jobId);
            out.putString("result_dir", request.resultDir.getAbsolutePath());
            Result result = JobLauncher.run(request, new Progress() {
                @Override
                public void update(String phase, int done, int total) {
                    Bundle status = new Bundle();
                    status.putString("phase", phase);
                    status.putInt("done", done);
                    status.putInt("total", total);
                    sendStatus(1, status);
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
            out.putString("status", "error");
            out.putString("error_kind", t instanceof IllegalArgumentException ? "usage" : "result_unwritable");
            out.putString("error_message", String.valueOf(t.getMessage()));
            out.putString(REPORT_KEY_STREAMRESULT, "devicelab: " + t + "\n");
        }
        finish(code, out);
    }
}

package dev.devicelab.app;

import android.app.Activity;
import android.content.Intent;
import android.os.Bundle;
import android.util.Log;
import android.view.WindowManager;
import android.widget.TextView;
import dev.devicelab.core.Progress;
import dev.devicelab.core.Result;

/**
 * Entry 1: {@code am start -n dev.devicelab.app/.MeasureActivity --es job_id <id>} (or {@code --es job_dir
 * <path>}). Runs the job on a background thread, shows its progress, then finishes itself; the host polls
 * results/<id>/DONE. Opened from the launcher without a job, it only says how it is driven.
 */
public class MeasureActivity extends Activity {
    private TextView status;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        status = new TextView(this);
        status.setPadding(32, 32, 32, 32);
        setContentView(status);
        getWindow().addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON); // no sleep mid-measurement
        if (savedInstanceState != null) {
            return; // recreated (configuration change): the job started the first time is still running
        }
        start(getIntent());
    }

    @Override
    protected void onNewIntent(Intent intent) {
        super.onNewIntent(intent);
        setIntent(intent);
        start(intent);
    }

    private void start(Intent intent) {
        String jobId = intent.getStringExtra(JobLauncher.EXTRA_JOB_ID);
        String jobDir = intent.getStringExtra(JobLauncher.EXTRA_JOB_DIR);
        String resultDir = intent.getStringExtra(JobLauncher.EXTRA_RESULT_DIR);
        if (jobId == null && jobDir == null) {
            show("devicelab measurement app\n\nStarted without a job. The host drives it with\n"
                    + "am start -n dev.devicelab.app/.MeasureActivity --es job_id <id>\nor\n"
                    + "am instrument -w -e job_id <id> dev.devicelab.app/.MeasureInstrumentation");
            return;
        }
        final JobLauncher.Request request;
        try {
            request = JobLauncher.resolve(this, jobId, jobDir, resultDir);
        } catch (Exception e) {
            Log.e(JobLauncher.TAG, "cannot start the job", e);
            show("cannot start the job: " + e.getMessage());
            return;
        }
        show("job " + request.jobId + ": starting");
        Thread worker = new Thread(new Runnable() {
            @Override
            public void run() {
                measure(request);
            }
        }, "devicelab-measure");
        worker.start();
    }

    /** Runs on the worker thread: the measurement, then the activity finishes. */
    private void measure(final JobLauncher.Request request) {
        String text;
        try {
            Result result = JobLauncher.run(request, new Progress() {
                @Override
                public void update(String phase, int done, int total) {
                    show("job " + request.jobId + ": " + phase + (total > 0 ? " " + done + "/" + total : ""));
                }
            });
            text = "job " + request.jobId + ": " + result.status
                    + (result.ok() ? " (" + result.runtimeUsed + ")" : " " + result.errorKind + ": " + result.errorMessage);
        } catch (Throwable t) { // the result folder itself could not be written
            Log.e(JobLauncher.TAG, "job " + request.jobId + " could not write its result", t);
            text = "job " + request.jobId + ": could not write the result: " + t;
        }
        show(text);
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                finish();
            }
        });
    }

    private void show(final String text) {
        runOnUiThread(new Runnable() {
            @Override
            public void run() {
                status.setText(text);
            }
        });
    }
}

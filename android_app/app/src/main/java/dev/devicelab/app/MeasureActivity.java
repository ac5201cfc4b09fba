package dev.devicelab.app;

import android.app.Activity;
import android.content.Intent;
import android.os.Bundle;
import android.util.Log;
import android.view.WindowManager;
import android.widget.TextView;
import dev.devicelab.core.JobStarts;
import dev.devicelab.core.Progress;
import dev.devicelab.core.Result;

/**
 * Entry 1: {@code am start -S -n dev.devicelab.app/.MeasureActivity --es job_id <id>} (or {@code --es job_dir
 * <path>}). Runs the job on a background thread, shows its progress, then finishes itself; the host polls
 * results/<id>/DONE. Opened from the launcher without a job, it only says how it is driven (and, like every
 * launch, creates the app's jobs/ and results/ folders).
 *
 * <p>launchMode singleTop (AndroidManifest.xml): a job sent while an instance is on top arrives in
 * {@link #onNewIntent}. A recreated instance (configuration change, or Android restoring the activity after the
 * process died) decides with {@link JobStarts#decide}: a job this process still runs is not started twice, a job
 * that died with the old process is started again, so no job is left unfinished. The worker thread belongs to
 * the process, not to an instance: it finishes whichever instance is current when the job ends.
 */
public class MeasureActivity extends Activity {
    /** The instance on screen now (the worker finishes it, even when it was recreated mid-job). */
    private static volatile MeasureActivity current;
    private TextView status;

    @Override
    protected void onCreate(Bundle savedInstanceState) {
        super.onCreate(savedInstanceState);
        status = new TextView(this);
        status.setPadding(32, 32, 32, 32);
        setContentView(status);
        getWindow().addFlags(WindowManager.LayoutParams.FLAG_KEEP_SCREEN_ON); // no sleep mid-measurement
        current = this;
        JobLauncher.ensureFolders(this); // every launch: a fresh install gets folders it owns
        start(getIntent(), savedInstanceState != null);
    }

    @Override
    protected void onDestroy() {
        if (current == this) {
            current = null;
        }
        super.onDestroy();
    }

    @Override
    protected void onNewIntent(Intent intent) {
        super.onNewIntent(intent);
        setIntent(intent);
        start(intent, false);
    }

    private void start(Intent intent, boolean recreated) {
        String jobId = intent.getStringExtra(JobLauncher.EXTRA_JOB_ID);
        String jobDir = intent.getStringExtra(JobLauncher.EXTRA_JOB_DIR);
        String resultDir = intent.getStringExtra(JobLauncher.EXTRA_RESULT_DIR);
        boolean hasJob = jobId != null || jobDir != null;
        if (!hasJob) {
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
        String key = request.resultDir.getAbsolutePath();
        JobStarts.Decision decision = JobStarts.decide(true, JobLauncher.STARTS.isRunning(key),
                JobLauncher.done(request), recreated);
        if (decision == JobStarts.Decision.ALREADY_RUNNING) {
            show("job " + request.jobId + ": running");
            return;
        }
        if (decision == JobStarts.Decision.ALREADY_DONE) {
            show("job " + request.jobId + ": done");
            finish();
            return;
        }
        if (!JobLauncher.STARTS.begin(key)) {
            return; // another entry point started it a moment ago
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
        final MeasureActivity screen = current;
        if (screen != null) {
            screen.runOnUiThread(new Runnable() {
                @Override
                public void run() {
                    screen.finish();
                }
            });
        }
    }

    /** Shows {@code text} on the current instance (the one that started the job may have been recreated). */
    private static void show(final String text) {
        final MeasureActivity screen = current;
        if (screen == null) {
            return;
        }
        screen.runOnUiThread(new Runnable() {
            @Override
            public void run() {
                screen.status.setText(text);
            }
        });
    }
}

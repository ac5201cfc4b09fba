package dev.devicelab.app;

import android.content.Context;
import android.util.Log;
import dev.devicelab.core.Clock;
import dev.devicelab.core.Job;
import dev.devicelab.core.JobRunner;
import dev.devicelab.core.JobStarts;
import dev.devicelab.core.Progress;
import dev.devicelab.core.Protocol;
import dev.devicelab.core.Result;
import java.io.File;
import java.io.IOException;

/**
 * What both entry points share: where a job and its result live, and one job at a time per process.
 *
 * <p>Jobs are pushed to {@code <external files>/jobs/<job_id>/} (job.json, model/..., inputs/...), that is
 * /sdcard/Android/data/dev.devicelab.app/files/jobs/<job_id>/; results go to
 * {@code <external files>/results/<job_id>/} (outputs, result.json, then DONE). A job folder elsewhere can be
 * named with job_dir (its result still goes to results/<folder name>/ unless result_dir is given).
 */
final class JobLauncher {
    static final String TAG = "devicelab";
    static final String EXTRA_JOB_ID = "job_id";
    static final String EXTRA_JOB_DIR = "job_dir";
    static final String EXTRA_RESULT_DIR = "result_dir";

    /** Measurements never overlap: two at once would measure each other. */
    private static final Object LOCK = new Object();
    /** The jobs this process is measuring: a recreated activity or a repeated intent does not start one twice. */
    static final JobStarts STARTS = new JobStarts();

    private JobLauncher() {}

    /** A job folder and the result folder it answers in. */
    static final class Request {
        final String jobId;
        final File jobDir;
        final File resultDir;

        Request(String jobId, File jobDir, File resultDir) {
            this.jobId = jobId;
            this.jobDir = jobDir;
            this.resultDir = resultDir;
        }

        @Override
        public String toString() {
            return jobDir + " -> " + resultDir;
        }
    }

    /**
     * Creates the app's external files folder with jobs/ and results/, on every launch. The app must make it
     * itself: a folder adb creates first (on a fresh install) belongs to the shell, and on Android 11+ the app can
     * then neither read the job nor write its result. The host launches a fresh app once before its first push.
     */
    static File ensureFolders(Context context) {
        File base = context.getExternalFilesDir(null); // creates files/ with the app's ownership when missing
        if (base == null) {
            Log.w(TAG, "external storage is not available: no jobs/ or results/ folder");
            return null;
        }
        for (String sub : new String[] {"jobs", "results"}) {
            File dir = new File(base, sub);
            if (!dir.isDirectory() && !dir.mkdirs()) {
                Log.w(TAG, "cannot create " + dir);
            }
        }
        return base;
    }

    /** True when {@code request}'s result folder already holds DONE. */
    static boolean done(Request request) {
        return new File(request.resultDir, Protocol.DONE_MARKER).isFile();
    }

    /** Resolves the entry point's arguments; IllegalArgumentException says what is missing or wrong. */
    static Request resolve(Context context, String jobId, String jobDir, String resultDir) throws IOException {
        File base = ensureFolders(context);
        if (base == null) {
            throw new IOException("external storage is not available, so there is no jobs/ or results/ folder");
        }
        File job;
        String id;
        if (jobDir != null && !jobDir.isEmpty()) {
            job = new File(jobDir);
            id = jobId != null && !jobId.isEmpty() ? jobId : job.getName();
        } else if (jobId != null && !jobId.isEmpty()) {
            job = new File(new File(base, "jobs"), jobId);
            id = jobId;
        } else {
            throw new IllegalArgumentException("no job: pass job_id <id> (a folder under " + new File(base, "jobs")
                    + ") or job_dir <path>");
        }
        if (!Job.isValidId(id)) {
            throw new IllegalArgumentException("job id '" + id + "' is not a valid devicelab job id");
        }
        File result = resultDir != null && !resultDir.isEmpty() ? new File(resultDir)
                : new File(new File(base, "results"), id);
        return new Request(id, job, result);
    }

    /**
     * Measures the job on the calling thread and writes its result folder (DONE last). Throws only when the
     * result folder cannot be written; every other failure is in the result.
     */
    static Result run(Request request, Progress progress) throws IOException {
        synchronized (LOCK) {
            Log.i(TAG, "job " + request.jobId + ": " + request);
            JobRunner runner = new JobRunner(new Runtimes(), new AndroidMemory(), AndroidDevice.describe(),
                    Clock.SYSTEM, progress);
            Result result;
            try {
                result = runner.run(request.jobDir, request.resultDir);
            } finally {
                STARTS.end(request.resultDir.getAbsolutePath());
            }
            if (result.ok()) {
                Log.i(TAG, "job " + request.jobId + ": ok, " + result.runtimeUsed + ", "
                        + result.timings.runs.size() + " runs");
            } else {
                Log.w(TAG, "job " + request.jobId + ": error " + result.errorKind + ": " + result.errorMessage);
            }
            return result;
        }
    }
}

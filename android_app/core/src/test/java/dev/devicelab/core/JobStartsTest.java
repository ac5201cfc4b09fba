package dev.devicelab.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import dev.devicelab.core.JobStarts.Decision;
import org.junit.Test;

/** Issue 12 #3: a recreated activity neither starts its job twice nor leaves it unfinished. */
public class JobStartsTest {
    @Test
    public void aJobRunsOncePerProcess() {
        JobStarts starts = new JobStarts();
        assertTrue(starts.begin("results/j1"));
        assertFalse(starts.begin("results/j1")); // a second intent for the same job while it runs
        assertTrue(starts.isRunning("results/j1"));
        starts.end("results/j1");
        assertFalse(starts.isRunning("results/j1"));
        assertTrue(starts.begin("results/j1")); // and again later
    }

    @Test
    public void whatALaunchDoes() {
        assertEquals(Decision.USAGE, JobStarts.decide(false, false, false, false));
        assertEquals(Decision.START, JobStarts.decide(true, false, false, false));
        assertEquals(Decision.ALREADY_RUNNING, JobStarts.decide(true, true, false, true)); // configuration change
        assertEquals(Decision.ALREADY_RUNNING, JobStarts.decide(true, true, false, false)); // onNewIntent, same job
        // Recreated after the process died mid-job (Android restores the activity with its old intent): the job
        // is not running anywhere and has no DONE, so it starts again instead of waiting forever.
        assertEquals(Decision.START, JobStarts.decide(true, false, false, true));
        assertEquals(Decision.ALREADY_DONE, JobStarts.decide(true, false, true, true));
        assertEquals(Decision.START, JobStarts.decide(true, false, true, false)); // a new launch reruns it
    }
}

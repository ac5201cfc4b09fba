package dev.devicelab.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;
import static org.junit.Assume.assumeTrue;

import java.io.File;
import java.util.List;
import org.junit.Rule;
import org.junit.Test;
import org.junit.rules.TemporaryFolder;

public class ProcStatusMemoryTest {
    @Rule
    public TemporaryFolder tmp = new TemporaryFolder();

    @Test
    public void readsVmRssAndVmHwmInMiB() throws Exception {
        File status = tmp.newFile("status");
        ResultWriter.writeUtf8(status, "Name:\tjava\nVmPeak:\t 9999 kB\nVmHWM:\t    4096 kB\nVmRSS:\t    2048 kB\n");
        File clearRefs = tmp.newFile("clear_refs");
        ProcStatusMemory probe = new ProcStatusMemory(status, clearRefs);
        List<MemorySample> rss = probe.sample("before_load");
        assertEquals(1, rss.size());
        assertEquals("rss", rss.get(0).metric);
        assertEquals(2.0, rss.get(0).value, 0);
        assertEquals("MiB", rss.get(0).unit);
        assertEquals("VmRSS (/proc/self/status)", rss.get(0).method);
        assertEquals("before_load", rss.get(0).phase);

        assertTrue(probe.resetPeak());
        assertEquals("5", Job.readUtf8(clearRefs));
        List<MemorySample> peak = probe.peak("run", true);
        assertEquals("peak_rss", peak.get(0).metric);
        assertEquals(4.0, peak.get(0).value, 0);
        assertEquals("VmHWM (/proc/self/status), reset before load", peak.get(0).method);
        assertEquals("VmHWM (/proc/self/status), since process start", probe.peak("run", false).get(0).method);
    }

    @Test
    public void noStatusFileMeansNoSamples() {
        File none = new File(tmp.getRoot(), "missing/status");
        ProcStatusMemory probe = new ProcStatusMemory(none, none);
        assertTrue(probe.sample("x").isEmpty());
        assertTrue(probe.peak("x", false).isEmpty());
        assertFalse(probe.resetPeak());
    }

    @Test
    public void worksOnThisLinuxJvm() {
        assumeTrue(new File("/proc/self/status").isFile() && new File("/proc/self/smaps_rollup").isFile());
        List<MemorySample> now = new ProcStatusMemory().sample("now");
        assertEquals(2, now.size());
        assertEquals("rss", now.get(0).metric);
        assertTrue(now.get(0).value > 1); // a JVM is bigger than 1 MiB
        assertEquals("pss", now.get(1).metric);
        assertEquals(ProcStatusMemory.PSS_METHOD, now.get(1).method);
        assertTrue(now.get(1).value > 1);
        List<MemorySample> polled = new ProcStatusMemory().poll();
        assertEquals("pss", polled.get(0).metric);
    }

    @Test
    public void pollReadsPssFromSmapsRollupElseVmRss() throws Exception {
        File status = tmp.newFile("status");
        ResultWriter.writeUtf8(status, "VmHWM:\t    4096 kB\nVmRSS:\t    2048 kB\n");
        File rollup = new File(tmp.getRoot(), "smaps_rollup");
        ProcStatusMemory probe = new ProcStatusMemory(status, tmp.newFile("clear_refs"), rollup);
        assertEquals("rss", probe.poll().get(0).metric); // an older kernel: no smaps_rollup
        ResultWriter.writeUtf8(rollup, "00400000-7fff [rollup]\nRss:     3072 kB\nPss:     1536 kB\n");
        List<MemorySample> polled = probe.poll();
        assertEquals("pss", polled.get(0).metric);
        assertEquals(1.5, polled.get(0).value, 0);
        assertEquals("run", polled.get(0).phase);
    }
}

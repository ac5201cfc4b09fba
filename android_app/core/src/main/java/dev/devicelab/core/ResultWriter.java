package dev.devicelab.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;

/**
 * Writes a result folder in the protocol's order: output tensors (written by the measurement), then
 * result.json (through a temporary file and a rename), then DONE holding the status, always last.
 */
public final class ResultWriter {
    private ResultWriter() {}

    /** Makes {@code resultDir} and removes what an earlier run left there, DONE first. */
    public static void prepare(File resultDir) throws IOException {
        if (!resultDir.isDirectory() && !resultDir.mkdirs()) {
            throw new IOException("cannot create the result folder " + resultDir);
        }
        delete(new File(resultDir, Protocol.DONE_MARKER));
        delete(new File(resultDir, Protocol.RESULT_FILE));
        delete(new File(resultDir, Protocol.RESULT_FILE + ".tmp"));
        deleteTree(new File(resultDir, Protocol.OUTPUTS_DIR));
        deleteTree(new File(resultDir, Profiling.DIR));
    }

    /** Writes result.json, then DONE. For an error result, leftover output and profile files are removed first. */
    public static void write(File resultDir, Result result) throws IOException {
        if (!resultDir.isDirectory() && !resultDir.mkdirs()) {
            throw new IOException("cannot create the result folder " + resultDir);
        }
        if (!result.ok()) {
            deleteTree(new File(resultDir, Protocol.OUTPUTS_DIR));
            deleteTree(new File(resultDir, Profiling.DIR));
        }
        File target = new File(resultDir, Protocol.RESULT_FILE);
        File tmp = new File(resultDir, Protocol.RESULT_FILE + ".tmp");
        writeUtf8(tmp, Json.pretty(result.toJson()) + "\n");
        if (!tmp.renameTo(target)) {
            delete(target);
            if (!tmp.renameTo(target)) {
                throw new IOException("cannot rename " + tmp + " to " + target);
            }
        }
        writeUtf8(new File(resultDir, Protocol.DONE_MARKER), result.status + "\n");
    }

    static void writeUtf8(File file, String text) throws IOException {
        OutputStream out = new FileOutputStream(file);
        try {
            out.write(text.getBytes("UTF-8"));
            out.flush();
        } finally {
            out.close();
        }
    }

    private static void delete(File file) throws IOException {
        if (file.exists() && !file.delete()) {
            throw new IOException("cannot remove " + file);
        }
    }

    static void deleteTree(File file) throws IOException {
        // Never follow a symlink out of the result folder: only a real directory is emptied.
        File parent = file.getAbsoluteFile().getParentFile();
        boolean realDirectory = file.isDirectory() && parent != null
                && file.getCanonicalFile().equals(new File(parent.getCanonicalFile(), file.getName()));
        File[] children = realDirectory ? file.listFiles() : null;
        if (children != null) {
            for (File child : children) {
                deleteTree(child);
            }
        }
        delete(file);
    }
}

package android.app;

import android.content.Context;
import android.os.Bundle;

public class Instrumentation {
    public static final String REPORT_KEY_IDENTIFIER = "id";
    public static final String REPORT_KEY_STREAMRESULT = "stream";

    public void onCreate(Bundle arguments) {}
    public void start() {}
    public void onStart() {}
    public void finish(int resultCode, Bundle results) {}
    public void sendStatus(int resultCode, Bundle results) {}
    public Context getContext() { return null; }
    public Context getTargetContext() { return null; }
}

package android.app;

import android.content.Context;
import android.content.Intent;
import android.os.Bundle;
import android.view.View;
import android.view.Window;

public class Activity extends Context {
    public static final int RESULT_CANCELED = 0;
    public static final int RESULT_OK = -1;

    protected void onCreate(Bundle savedInstanceState) {}
    protected void onNewIntent(Intent intent) {}
    protected void onDestroy() {}
    public void setContentView(View view) {}
    public Window getWindow() { return null; }
    public Intent getIntent() { return null; }
    public void setIntent(Intent newIntent) {}
    public final void runOnUiThread(Runnable action) {}
    public void finish() {}
    @Override
    public java.io.File getExternalFilesDir(String type) { return null; }
}

package dev.devicelab.app;

import android.os.Build;
import java.util.LinkedHashMap;
import java.util.Map;

/** result.device for this phone: what the host needs to tell one device from another. */
final class AndroidDevice {
    private AndroidDevice() {}

    static Map<String, Object> describe() {
        Map<String, Object> device = new LinkedHashMap<String, Object>();
        device.put("platform", "android");
        device.put("model", Build.MANUFACTURER + " " + Build.MODEL);
        device.put("os", "Android " + Build.VERSION.RELEASE + " (API " + Build.VERSION.SDK_INT + ")");
        device.put("cpu", cpu());
        String[] abis = Build.SUPPORTED_ABIS;
        device.put("abi", abis != null && abis.length > 0 ? abis[0] : null);
        device.put("cores", Integer.valueOf(Runtime.getRuntime().availableProcessors()));
        device.put("hardware", Build.HARDWARE);
        device.put("sdk_int", Integer.valueOf(Build.VERSION.SDK_INT));
        device.put("fingerprint", Build.FINGERPRINT);
        device.put("app_version", BuildConfig.VERSION_NAME);
        return device;
    }

    /** The SoC ("Qualcomm SM8550") where Android 12+ names it, else the board's hardware name. */
    private static String cpu() {
        if (Build.VERSION.SDK_INT >= 31) {
            String model = Build.SOC_MODEL;
            if (model != null && !model.isEmpty() && !Build.UNKNOWN.equals(model)) {
                String maker = Build.SOC_MANUFACTURER;
                return maker != null && !maker.isEmpty() && !Build.UNKNOWN.equals(maker) ? maker + " " + model : model;
            }
        }
        return Build.HARDWARE;
    }
}

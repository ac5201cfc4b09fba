// The Android shell around :core: two entry points (MeasureActivity, MeasureInstrumentation) and the
// LiteRT (TFLite) / ONNX Runtime adapters. Build: ./gradlew :app:assembleDebug (needs the Android SDK, platform 34).
plugins {
    alias(libs.plugins.android.application)
}

android {
    namespace = "dev.devicelab.app"
    compileSdk = 34

    defaultConfig {
        applicationId = "dev.devicelab.app"
        minSdk = 24
        targetSdk = 34
        versionCode = 1
        versionName = "0.1.0"
        // The pinned runtime versions, for result.extra and for messages when a library does not report its own.
        buildConfigField("String", "LITERT_VERSION", "\"${libs.versions.litert.get()}\"")
        buildConfigField("String", "ORT_VERSION", "\"${libs.versions.onnxruntime.get()}\"")
        buildConfigField("String", "EXECUTORCH_VERSION", "\"${libs.versions.executorch.get()}\"")
    }

    buildFeatures {
        buildConfig = true
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }

    buildTypes {
        release {
            // Measurements want the libraries exactly as shipped: no shrinking (it also needs keep rules
            // for TFLite's and ONNX Runtime's JNI classes). Sign release builds with your own key.
            isMinifyEnabled = false
        }
    }

    packaging {
        jniLibs {
            useLegacyPackaging = false // native libraries stay uncompressed in the APK, mapped in place
            pickFirsts += "**/libc++_shared.so"
        }
    }

    lint {
        // The Activity and the Instrumentation are driven by adb, not by users.
        disable += "MissingApplicationIcon"
    }
}

dependencies {
    implementation(project(":core"))
    implementation(libs.litert)
    implementation(libs.litert.api) // InterpreterApi and its factory: without it 1.4 fails at runtime
    implementation(libs.litert.gpu)
    implementation(libs.litert.gpu.api) // GpuDelegateFactory.Options lives here, GpuDelegate needs it
    implementation(libs.onnxruntime.android)
    implementation(libs.executorch.android)
}

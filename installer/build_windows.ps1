# Build the Windows installer: a clean virtualenv, the PyInstaller bundle, its self-check, Inno Setup.
#
#   powershell -ExecutionPolicy Bypass -File installer\build_windows.ps1
#   powershell -ExecutionPolicy Bypass -File installer\build_windows.ps1 -Python "C:\Python311\python.exe" -SkipInstaller
#
# Needs: 64-bit Python 3.11 (python.org), Inno Setup 6 (jrsoftware.org) for the setup.exe step.
param(
    [string]$Python = "py",
    [string]$PythonArgs = "-3.11",
    [string]$Iscc = "",
    [switch]$SkipInstaller
)
$ErrorActionPreference = "Stop"
$Root = Resolve-Path (Join-Path $PSScriptRoot "..")
Set-Location $Root
$PyInstallerVersion = "6.22.3"

function Invoke-Checked([string]$Exe, [string[]]$Arguments) {
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "$Exe $($Arguments -join ' ') failed (exit $LASTEXITCODE)" }
}

# 1. A build virtualenv with the app's pinned dependencies (never the developer's .venv).
$Venv = Join-Path $Root "build\venv-win"
if (-not (Test-Path (Join-Path $Venv "Scripts\python.exe"))) {
    $venvArgs = @()
    if ($PythonArgs) { $venvArgs += $PythonArgs.Split(" ") }
    Invoke-Checked $Python ($venvArgs + @("-m", "venv", $Venv))
}
$VPy = Join-Path $Venv "Scripts\python.exe"
Invoke-Checked $VPy @("-m", "pip", "install", "--upgrade", "pip")
Invoke-Checked $VPy @("-m", "pip", "install", ".", "pyinstaller==$PyInstallerVersion")

# 2. The one-folder bundle: dist\station-app\station-app.exe (windowed) and station-cli.exe (console).
if (Test-Path "dist\station-app") { Remove-Item -Recurse -Force "dist\station-app" }
Invoke-Checked $VPy @("-m", "PyInstaller", "--noconfirm", "--clean", "--distpath", "dist",
                      "--workpath", "build\pyinstaller", "installer\station_app.spec")

# 3. Self-check from the built folder, away from the source tree: temp database, migrate,
#    import/export, backup, a notice PDF with the bundled font, the GUI modules load.
Push-Location $env:TEMP
try {
    $env:QT_QPA_PLATFORM = "offscreen"
    Invoke-Checked (Join-Path $Root "dist\station-app\station-cli.exe") @("self-check")
} finally {
    Remove-Item Env:\QT_QPA_PLATFORM -ErrorAction SilentlyContinue
    Pop-Location
}
$Size = (Get-ChildItem -Recurse "dist\station-app" | Measure-Object -Property Length -Sum).Sum / 1MB
Write-Host ("bundle: dist\station-app ({0:N0} MB)" -f $Size)

if ($SkipInstaller) { exit 0 }

# 4. The installer: dist\installer\VillageYibaoStation-<version>-setup.exe
if (-not $Iscc) {
    $candidates = @("${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe", "$env:ProgramFiles\Inno Setup 6\ISCC.exe",
                    "$env:LOCALAPPDATA\Programs\Inno Setup 6\ISCC.exe")
    $Iscc = $candidates | Where-Object { Test-Path $_ } | Select-Object -First 1
}
if (-not $Iscc) { throw "ISCC.exe (Inno Setup 6) not found; install it or pass -Iscc <path>" }
$Version = (& $VPy -c "import sync_protocol; print(sync_protocol.__version__)").Trim()
Invoke-Checked $Iscc @("/DAppVersion=$Version", "installer\station_app.iss")
Write-Host "installer: dist\installer\VillageYibaoStation-$Version-setup.exe"

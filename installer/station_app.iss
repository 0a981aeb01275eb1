; Inno Setup 6 script for the Windows installer of 村级医保服务站.
;
; Build it with installer\build_windows.ps1 (which passes /DAppVersion=…), or by hand:
;   ISCC.exe /DAppVersion=0.1.0 installer\station_app.iss
; after PyInstaller has written dist\station-app\.
;
; Upgrades install in place: the AppId below never changes, so a newer setup finds the old
; installation (same folder, same Start-menu entry) and replaces the program files.
; The user's data — database, backups, logs, notices — lives in
;   %LOCALAPPDATA%\VillageYibao\VillageYibaoStation
; (station_app.paths.data_dir, via platformdirs). Nothing in this script names that folder:
; neither an upgrade nor the uninstaller ever touches it. The app itself backs the database
; up before it migrates it at the first start of a new version.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#define AppName "村级医保服务站"
#define AppPublisher "VillageYibao"
#define DistDir AddBackslash(SourcePath) + "..\dist\station-app"

; Simplified Chinese wizard texts: shipped with Inno Setup 6.4+ as an official translation;
; for older compilers put the translation (ChineseSimplified.isl from jrsoftware.org/files/istrans/)
; next to this script.
#if FileExists(AddBackslash(CompilerPath) + "Languages\ChineseSimplified.isl")
  #define ChineseMessages "compiler:Languages\ChineseSimplified.isl"
#elif FileExists(AddBackslash(SourcePath) + "ChineseSimplified.isl")
  #define ChineseMessages AddBackslash(SourcePath) + "ChineseSimplified.isl"
#endif

[Setup]
; Fixed forever: this is what makes a new version an in-place upgrade.
AppId={{6F3C2B8E-4D1A-4E7B-9C55-2A9E1D7B3F60}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher={#AppPublisher}
DefaultDirName={autopf}\VillageYibaoStation
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
UsePreviousAppDir=yes
; Per-machine by default (Program Files); a user without admin rights may install for themselves.
PrivilegesRequired=admin
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Qt 6 needs Windows 10 1809 or later.
MinVersion=10.0.17763
OutputDir=..\dist\installer
OutputBaseFilename=VillageYibaoStation-{#AppVersion}-setup
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
; Close a running copy during an upgrade (the database is written with synchronous=FULL,
; so what the user saw saved stays saved).
CloseApplications=yes
RestartApplications=no
UninstallDisplayIcon={app}\station-app.exe
UninstallDisplayName={#AppName}
VersionInfoVersion={#AppVersion}
VersionInfoProductName={#AppName}

[Languages]
#ifdef ChineseMessages
Name: "chinesesimplified"; MessagesFile: "{#ChineseMessages}"
#else
  #pragma message "ChineseSimplified.isl not found: the setup wizard will be in English"
Name: "english"; MessagesFile: "compiler:Default.isl"
#endif

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[InstallDelete]
; An upgrade first removes the previous program files, so no stale module of the old version
; is loaded by the new one. Only the install folder: the user's data is elsewhere.
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#DistDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\{#AppName}"; Filename: "{app}\station-app.exe"; WorkingDir: "{app}"
Name: "{group}\{#AppName}（自检）"; Filename: "{cmd}"; Parameters: "/k ""{app}\station-cli.exe"" self-check"; WorkingDir: "{app}"
Name: "{group}\{cm:UninstallProgram,{#AppName}}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\station-app.exe"; WorkingDir: "{app}"; Tasks: desktopicon

[Run]
Filename: "{app}\station-app.exe"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent

; No [UninstallDelete] and no [Code] touching {localappdata}: uninstalling removes the program,
; never the station's database or its backups.

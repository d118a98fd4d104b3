// The Flex Consumption plan (FC1) and the Linux Python function app on it, running as the user-assigned
// identity. Its app settings are the whole set: a later deployment replaces settings added by hand, so
// extra ones go in `additionalAppSettings` (main.parameters.json). No setting carries a key or a secret:
// storage is identity-based, the Dataverse client secret stays in Key Vault, and telemetry is ingested
// with Entra ID.

@description('Name of the function app (globally unique host name).')
param name string

@description('Name of the Flex Consumption plan.')
param planName string

@description('Azure region.')
param location string

@description('Tags for the resources; the function app also gets azd-service-name.')
param tags object = {}

@description('The azure.yaml service this app is deployed as.')
param serviceName string = 'api'

@description('Resource id of the user-assigned managed identity the app runs as.')
param identityId string

@description('Client id of that identity.')
param identityClientId string

@description('Name of the storage account behind AzureWebJobsStorage.')
param storageAccountName string

@description('Blob container the plan deploys the app package from.')
param deploymentContainerName string

@description('Name of the Application Insights component.')
param applicationInsightsName string

@description('Key Vault URI (https://<name>.vault.azure.net/).')
param keyVaultUri string

@description('Name of the Dataverse client secret in the vault.')
param secretName string

@description('Org URL, e.g. https://contoso.crm.dynamics.com.')
param dataverseUrl string

@description('Entra tenant of the app registration.')
param dataverseTenantId string

@description('Client id of the app registration (the org\'s application user).')
param dataverseClientId string

@description('NCRONTAB (6 fields) of the snapshot timer.')
param snapshotSchedule string

@description('NCRONTAB (6 fields) of the notify_subscribers timer.')
param notifySchedule string

@description('Most instances the app scales out to.')
param maximumInstanceCount int

@description('Memory of each instance, in MB.')
@allowed([
  512
  2048
  4096
])
param instanceMemoryMB int = 2048

@description('Python version of the Functions runtime.')
param pythonVersion string = '3.11'

@description('More app settings (docs/settings.md), merged under the ones this module sets.')
param additionalAppSettings object = {}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      appSettings: [for setting in items(union(additionalAppSettings, appSettings)): {
        name: setting.key
        value: setting.value
      }]
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'python'
        version: pythonVersion
      }
    }
  }
}

var appSettings = {
  // The Functions host's and the app's storage, through the identity (no connection string, no key).
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identityClientId
  AzureWebJobsStorage__blobServiceUri: storage.properties.primaryEndpoints.blob
  AzureWebJobsStorage__tableServiceUri: storage.properties.primaryEndpoints.table
  // DefaultAzureCredential (Key Vault) picks the user-assigned identity by this client id.
  AZURE_CLIENT_ID: identityClientId
  // OpenTelemetry to Application Insights, ingested with Entra ID. The connection string names the
  // component (its instrumentation key is an id, not a credential: local auth is disabled).
  APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsights.properties.ConnectionString
  APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
  PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY: 'true'
  // The org.
  DATAVERSE_URL: dataverseUrl
  DATAVERSE_TENANT_ID: dataverseTenantId
  DATAVERSE_CLIENT_ID: dataverseClientId
  KEY_VAULT_URL: keyVaultUri
  DATAVERSE_CLIENT_SECRET_NAME: secretName
  // Timers resolve %SNAPSHOT_SCHEDULE% and %NOTIFY_SCHEDULE% from app settings only: the app's defaults do
  // not reach the host.
  SNAPSHOT_SCHEDULE: snapshotSchedule
  NOTIFY_SCHEDULE: notifySchedule
}

resource ftpBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmBasicAuth 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2024-04-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

output name string = app.name
output uri string = 'https://${app.properties.defaultHostName}'
